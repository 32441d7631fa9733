/**
 * Replay logs for resumable streams: the generating request appends every SSE frame it sends to
 * its caller (already encoded, seq 1, 2, 3… — the seq is also in the frame's `id:`), and any
 * reader, through any proxy instance, reads the frames after a seq and then follows live.
 * Two stores implement this: memory-store.ts (one instance) and redis-store.ts (shared).
 */

export interface StreamMeta {
  id: string;
  /** The key that may read the stream (checked by the route, not here). */
  owner: string;
  model: string;
  /** ms since the epoch. */
  createdAt: number;
}

export type LogState = 'live' | 'ended' | 'lost' | 'overflow';

export interface ReadResult {
  /** In order, consecutive from `after + 1`, at most `max`. */
  frames: { seq: number; text: string }[];
  /**
   * The state at the end of the returned frames (so a terminal state is only reported once the
   * returned frames reach the end of the stored log; a `max`-truncated result says `live`):
   * live: more may come; ended: the last stored frame was the final one (nothing after the
   * returned frames); lost: the generating instance died or gave up (no lease, or abandon()) and
   * no more will come; overflow: the log stopped being resumable after the last stored frame
   * (a bound was reached, or a write to Redis failed) while the generation went on — the caller
   * got frames that are not stored.
   */
  state: LogState;
}

export interface ReplayLog {
  readonly id: string;
  /**
   * Resolves true once the log is readable from every instance (Redis: its meta write landed;
   * memory: at once), false if that write failed. Another instance asking before then gets
   * null: a detached start should await this before it hands out the id.
   */
  readonly ready: Promise<boolean>;
  /**
   * Append one frame. `seq` must be the previous seq + 1 (the first is 1): anything else is a
   * bug in the caller and throws a RangeError. Returns false when the frame is not stored: it
   * would exceed the per-stream or the total bytes bound (from then on the log is in state
   * 'overflow' and drops every later append; the live caller is unaffected), or the log was
   * already finished/abandoned. Synchronous; the Redis store writes asynchronously in order
   * (fire-and-forget, pipelined) and degrades to 'overflow' on a Redis write error.
   */
  append(seq: number, text: string): boolean;
  /**
   * The generation ended; its final frame (DONE or error) was appended. Starts the retention
   * period (retentionMs), after which the stream is gone (meta/read answer null).
   */
  finish(): void;
  /** The generating process is shutting down/aborting without a final frame: mark lost (retention starts too). */
  abandon(): void;
}

export interface ReplayStore {
  /** Start a log; null when the per-instance bound on live streams (maxStreams) or total bytes is reached. */
  open(meta: StreamMeta): ReplayLog | null;
  /** Meta of a stream, or null when unknown or expired. */
  meta(id: string): Promise<StreamMeta | null>;
  /**
   * Frames after `after` (at most `max`); when there are none yet and the log is live, wait up
   * to `waitMs` for some (or for the end) — event-driven in memory, blocking XREAD in Redis —
   * and return an empty live result on timeout. `signal` aborts the wait (resolves with what
   * there is). Returns null when the stream is unknown/expired. The Redis store rejects when
   * Redis cannot be read.
   */
  read(id: string, after: number, opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReadResult | null>;
  /**
   * Counts for metrics/tests: live logs opened by this instance (not yet finished/abandoned),
   * and bytes held — memory: every log still held, retained ones included; Redis: the live
   * logs this instance writes (the per-instance total bound).
   */
  stats(): { streams: number; bytes: number };
  /**
   * Stop timers and drop connections. Live logs are NOT finished or abandoned (call abandon()
   * first on a graceful shutdown): in Redis their leases lapse and readers see 'lost' within
   * leaseMs, exactly as after a crash.
   */
  close(): Promise<void>;
}

export interface StoreBounds {
  /** Bytes (UTF-8) of frames stored per stream. */
  maxStreamBytes: number;
  /** Live logs per instance. */
  maxStreams: number;
  /** Bytes across logs per instance (memory: all held logs; Redis: live logs it writes). */
  maxTotalBytes: number;
  /** How long a finished/abandoned stream stays readable. */
  retentionMs: number;
  /** Redis: how long a generating instance's lease outlives its last refresh. */
  leaseMs: number;
  /** A log neither finished nor abandoned after this long is marked lost (and expires retentionMs later). */
  maxStreamDurationMs: number;
}
