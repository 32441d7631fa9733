/**
 * One subscriber of the admin feed (src/admin/feed.ts): a cursor into the feed's shared ring,
 * written while its socket holds less than `maxBufferedBytes` and resumed on `drain`, with one
 * timer for keep-alive comments and the stall check (test/integration/admin-events.test.ts).
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import { encodeComment, encodeEvent } from '../sse/encoder.js';

/** What a connection reads from the feed. */
export interface FeedSource {
  /** Number of the newest event (0 before the first). */
  readonly lastSeq: number;
  /** Number of the oldest event still held. */
  readonly oldestSeq: number;
  /** Event `seq` as an SSE frame, or undefined once evicted. */
  frameOf(seq: number): string | undefined;
  idFor(seq: number): string;
  /** `n` events were evicted before this connection got them. */
  missed(n: number): void;
  /** The connection was closed for staying blocked `stallMs`. */
  stalled(): void;
  /** The connection is gone: forget it. */
  closed(conn: FeedConnection): void;
}

/** The limits a connection keeps. */
export interface FeedConnectionOptions {
  maxBufferedBytes: number;
  /** Idle time after which a `: keep-alive` comment is written; 0 = none. */
  keepAliveMs: number;
  /** A connection blocked this long is closed. */
  stallMs: number;
}

export class FeedConnection {
  private lastWriteAt: number;
  private blockedSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private open = true;

  constructor(
    readonly res: ServerResponse,
    /** Number of the next event to write. */
    private nextSeq: number,
    private readonly feed: FeedSource,
    private readonly clock: Clock,
    private readonly opts: FeedConnectionOptions,
  ) {
    this.lastWriteAt = clock.monotonic();
    res.on('drain', () => this.pump());
    res.once('close', () => this.drop());
  }

  /** Write the hello frame, then what the cursor has not had yet, and start the timer. */
  start(hello: string): void {
    this.write(hello);
    this.pump();
    this.arm();
  }

  /** Write what this connection has not had yet from the ring, while its buffer has room. */
  pump(): void {
    const { res, feed } = this;
    if (res.destroyed || res.writableEnded) return;
    while (this.nextSeq <= feed.lastSeq) {
      if (res.writableLength >= this.opts.maxBufferedBytes) {
        this.blockedSince ??= this.clock.monotonic();
        return;
      }
      const frame = feed.frameOf(this.nextSeq);
      if (frame === undefined) {
        // Evicted before this client got it: say how many, go on from the oldest held.
        const missed = feed.oldestSeq - this.nextSeq;
        feed.missed(missed);
        this.nextSeq = feed.oldestSeq;
        this.write(encodeEvent({ event: 'feed.gap', data: JSON.stringify({ missed, resumeId: feed.idFor(this.nextSeq) }) }));
        continue;
      }
      this.write(frame);
      this.nextSeq++;
    }
    this.blockedSince = null;
  }

  /** Stop the timer and leave the feed (the response is the caller's to end). */
  drop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.open) return;
    this.open = false;
    this.feed.closed(this);
  }

  private write(frame: string): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.res.write(frame);
    this.lastWriteAt = this.clock.monotonic();
  }

  /** One timer per connection: keep-alive comments when idle, and the stall check. */
  private arm(): void {
    const { keepAliveMs, stallMs } = this.opts;
    const period = keepAliveMs > 0 ? keepAliveMs : stallMs;
    const idleFor = this.clock.monotonic() - this.lastWriteAt;
    const delay = keepAliveMs > 0 && this.blockedSince === null ? Math.max(1, keepAliveMs - idleFor) : period;
    this.timer = setTimeout(() => this.tick(), delay);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    if (!this.open) return;
    const now = this.clock.monotonic();
    if (this.blockedSince !== null && now - this.blockedSince >= this.opts.stallMs) {
      this.feed.stalled();
      this.res.destroy();
      return;
    }
    const ka = this.opts.keepAliveMs;
    if (ka > 0 && this.blockedSince === null && now - this.lastWriteAt >= ka) this.write(encodeComment('keep-alive'));
    this.arm();
  }
}
