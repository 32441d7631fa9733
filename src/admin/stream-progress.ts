/**
 * The feed's `stream.progress` events: once every `periodMs` while streams are open, the chunks
 * (≈ tokens) written to callers since the last sample, read from each open stream's counter — so
 * the dashboard's tokens per second move while streams run, at no cost per token on the relay's
 * path (test/integration/feed-budgets.test.ts). A stream's last chunks are counted from its
 * final record, so each chunk is counted once.
 */
import type { Clock } from '../clock.js';
import type { RequestRecord, StreamProgress } from '../events/types.js';

/** Open streams tracked at most (the feed's in-flight bound). */
const STREAMS_MAX = 10_000;

/** An open stream's chunk counter and what the last sample read of it. */
interface OpenStream {
  read: () => number;
  seen: number;
}

/** Samples open streams' chunk counters on a timer that runs only while streams are open. */
export class StreamProgressSampler {
  private readonly streams = new Map<string, OpenStream>();
  /** Chunks of streams that ended since the last sample. */
  private endedChunks = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastAt = 0;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly publish: (p: StreamProgress) => void,
  ) {}

  opened(id: string, read: () => number): void {
    if (this.streams.size >= STREAMS_MAX) return;
    this.streams.set(id, { read, seen: 0 });
    if (this.timer === null) {
      this.lastAt = this.clock.monotonic();
      this.timer = setInterval(() => this.sample(), this.periodMs);
      this.timer.unref();
    }
  }

  /** A stream's chunks since the last sample are counted in the next one (from its final record). */
  ended(r: RequestRecord): void {
    const s = this.streams.get(r.id);
    if (!s) return;
    this.streams.delete(r.id);
    this.endedChunks += Math.max(0, r.chunks - s.seen);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One `stream.progress`; the timer stops once no stream is open and everything is counted. */
  private sample(): void {
    let chunks = this.endedChunks;
    this.endedChunks = 0;
    for (const s of this.streams.values()) {
      const n = s.read();
      chunks += Math.max(0, n - s.seen);
      s.seen = n;
    }
    const now = this.clock.monotonic();
    this.publish({ at: this.clock.now(), intervalMs: Math.round(now - this.lastAt), chunks, streams: this.streams.size });
    this.lastAt = now;
    if (this.streams.size === 0) this.close();
  }
}
