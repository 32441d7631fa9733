/**
 * The in-process replay store: one proxy instance, frames kept as the strings the caller got.
 *
 * Memory is bounded three ways: bytes per stream, bytes across every log still held (retained
 * ones too — they are memory until they expire), and live logs. A log is dropped retentionMs
 * after finish()/abandon(); one that is never ended is marked lost at maxStreamDurationMs and
 * dropped retentionMs later, so a forgotten log cannot leak. Expiry is checked against the
 * injected clock: lazily on access (so a ManualClock drives it in tests) and by one unref'd
 * sweeper timer (so memory comes back with no traffic).
 *
 * Waiting readers are woken by append/finish/abandon/expiry — no polling.
 */
import { systemClock, type Clock } from '../clock.js';
import type { LogState, ReadResult, ReplayLog, ReplayStore, StoreBounds, StreamMeta } from './types.js';

interface Entry {
  meta: StreamMeta;
  frames: string[];
  /** The last seq appended, stored or not (frames hold 1..frames.length). */
  lastSeq: number;
  bytes: number;
  /** Set once the generation is over (finish, abandon, or the duration limit). */
  end: 'ended' | 'lost' | null;
  overflowed: boolean;
  /** While live: when the duration limit marks it lost. */
  liveUntil: number;
  /** When it is dropped. */
  expiresAt: number;
  waiters: Set<() => void>;
}

function wake(e: Entry): void {
  const ws = [...e.waiters];
  e.waiters.clear();
  for (const w of ws) w();
}

/** Reported when the returned frames reach the end of the stored log. */
function tailState(e: Entry): LogState {
  // Overflow wins over the end: frames were generated that are not stored, whatever came after.
  return e.overflowed ? 'overflow' : (e.end ?? 'live');
}

export class MemoryReplayStore implements ReplayStore {
  private readonly logs = new Map<string, Entry>();
  private liveCount = 0;
  private totalBytes = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly bounds: StoreBounds, private readonly clock: Clock = systemClock) {
    // Expiry is at most one period late; the period follows retention so short test retentions work.
    const period = Math.max(10, Math.min(1000, Math.floor(bounds.retentionMs / 2)));
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
  }

  open(meta: StreamMeta): ReplayLog | null {
    if (this.closed) return null;
    if (this.liveCount >= this.bounds.maxStreams || this.totalBytes >= this.bounds.maxTotalBytes) {
      this.sweep(); // expired logs may be holding the room
      if (this.liveCount >= this.bounds.maxStreams || this.totalBytes >= this.bounds.maxTotalBytes) return null;
    }
    if (this.logs.has(meta.id)) throw new Error(`replay log ${meta.id} already exists`);
    const now = this.clock.now();
    const e: Entry = {
      meta: { ...meta }, frames: [], lastSeq: 0, bytes: 0, end: null, overflowed: false,
      liveUntil: now + this.bounds.maxStreamDurationMs,
      expiresAt: now + this.bounds.maxStreamDurationMs + this.bounds.retentionMs,
      waiters: new Set(),
    };
    this.logs.set(meta.id, e);
    this.liveCount++;
    return {
      id: meta.id,
      ready: Promise.resolve(true),
      append: (seq, text) => this.append(e, seq, text),
      finish: () => this.end(e, 'ended'),
      abandon: () => this.end(e, 'lost'),
    };
  }

  async meta(id: string): Promise<StreamMeta | null> {
    const e = this.get(id);
    return e ? { ...e.meta } : null;
  }

  async read(id: string, after: number, opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReadResult | null> {
    const from = Math.max(0, Math.floor(after));
    const max = Math.max(1, Math.floor(opts.max));
    const deadline = Date.now() + opts.waitMs; // a duration: real time, whatever the clock
    for (;;) {
      const e = this.get(id);
      if (!e) return null;
      const r = this.slice(e, from, max);
      const left = deadline - Date.now();
      if (r.frames.length || r.state !== 'live' || left <= 0 || opts.signal?.aborted) return r;
      // Woken by any change of the log; a frame at or below `after` (a reader ahead) waits on.
      await this.wait(e, left, opts.signal);
    }
  }

  stats(): { streams: number; bytes: number } {
    this.sweep();
    return { streams: this.liveCount, bytes: this.totalBytes };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const all = [...this.logs.values()];
    this.logs.clear();
    this.liveCount = 0;
    this.totalBytes = 0;
    for (const e of all) wake(e); // their reads re-check, find nothing and answer null
  }

  private append(e: Entry, seq: number, text: string): boolean {
    if (seq !== e.lastSeq + 1) throw new RangeError(`replay log ${e.meta.id}: seq ${seq} after ${e.lastSeq}`);
    e.lastSeq = seq;
    if (e.end !== null || e.overflowed || this.logs.get(e.meta.id) !== e) return false;
    const n = Buffer.byteLength(text);
    if (e.bytes + n > this.bounds.maxStreamBytes || this.totalBytes + n > this.bounds.maxTotalBytes) {
      e.overflowed = true;
      wake(e); // readers at the tail learn that nothing more will be stored
      return false;
    }
    e.frames.push(text);
    e.bytes += n;
    this.totalBytes += n;
    wake(e);
    return true;
  }

  private end(e: Entry, how: 'ended' | 'lost'): void {
    if (e.end !== null || this.logs.get(e.meta.id) !== e) return;
    e.end = how;
    e.expiresAt = this.clock.now() + this.bounds.retentionMs;
    this.liveCount--;
    wake(e);
  }

  /** The entry, unless it has expired (then it is dropped now). */
  private get(id: string): Entry | null {
    const e = this.logs.get(id);
    if (!e) return null;
    const now = this.clock.now();
    if (e.end === null && now >= e.liveUntil) this.end(e, 'lost');
    if (now < e.expiresAt) return e;
    this.drop(e);
    return null;
  }

  private drop(e: Entry): void {
    this.logs.delete(e.meta.id);
    this.totalBytes -= e.bytes;
    if (e.end === null) this.liveCount--;
    e.frames = [];
    wake(e);
  }

  private sweep(): void {
    for (const id of this.logs.keys()) this.get(id);
  }

  private slice(e: Entry, after: number, max: number): ReadResult {
    const part = e.frames.slice(after, after + max);
    const frames = part.map((text, i) => ({ seq: after + i + 1, text }));
    const more = after + part.length < e.frames.length;
    return { frames, state: more ? 'live' : tailState(e) };
  }

  /** Resolves on the next append/end/expiry of `e`, after `ms`, or on abort — whichever is first. */
  private wait(e: Entry, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        e.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      e.waiters.add(done);
    });
  }
}
