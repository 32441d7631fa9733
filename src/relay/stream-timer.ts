/**
 * A stream's clock on the caller side (src/relay/caller.ts): keep-alives while the upstream is
 * silent, the idle timeout, and the maximum duration. One timer per stream, re-armed from its own
 * callback, so the work per upstream read is one field store ({@link touch}) rather than a timer
 * reset (docs/ARCHITECTURE.md "Performance rules").
 */
import type { RelayOptions, RelayStop } from './relay-types.js';

/** What the timer acts on (the caller side: one object, no closures per stream). */
export interface TimedStream {
  /** The request is over or cancelled: the timer stops. */
  isOver(): boolean;
  /** Waiting for the caller's `drain` (its socket is full). */
  waitingForDrain(): boolean;
  /** Stop the request for this reason. */
  stopFor(reason: RelayStop['stop']): void;
  /** Send a keep-alive (committing the head if it is not out). */
  keepAlive(): void;
}

export class StreamTimer {
  /** Monotonic ms of the last upstream read. */
  lastActivity: number;
  private nextKeepAliveAt = Infinity;
  private deadline = Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: TimedStream,
    private readonly opts: Pick<RelayOptions, 'keepAliveMs' | 'idleTimeoutMs' | 'maxStreamDurationMs' | 'now'>,
  ) {
    this.lastActivity = opts.now();
  }

  /** Start: keep-alives from now, the maximum duration from now. */
  start(): void {
    const now = this.opts.now();
    this.lastActivity = now;
    this.nextKeepAliveAt = now + this.opts.keepAliveMs;
    this.deadline = this.opts.maxStreamDurationMs > 0 ? now + this.opts.maxStreamDurationMs : Infinity;
    this.arm();
  }

  /** An upstream read arrived (read by the next timer callback, not re-armed here). */
  touch(now: number): void {
    this.lastActivity = now;
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stream.isOver()) return;
    const now = this.opts.now();
    let at = this.deadline;
    if (this.opts.keepAliveMs > 0) at = Math.min(at, this.nextKeepAliveAt);
    if (this.opts.idleTimeoutMs > 0) at = Math.min(at, this.lastActivity + this.opts.idleTimeoutMs);
    if (at === Infinity) return;
    this.timer = setTimeout(this.onTimer, Math.max(1, at - now));
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    const s = this.stream;
    if (s.isOver()) return;
    const now = this.opts.now();
    if (now >= this.deadline) return s.stopFor('max_duration');
    if (this.opts.idleTimeoutMs > 0 && now - this.lastActivity >= this.opts.idleTimeoutMs) {
      // Waiting for `drain` all that time means the caller stopped reading, not the upstream
      // (test/integration/backpressure.test.ts): cut the caller, or it would hold the stream and the upstream forever.
      return s.stopFor(s.waitingForDrain() ? 'client_stalled' : 'idle');
    }
    if (this.opts.keepAliveMs > 0 && now >= this.nextKeepAliveAt) {
      // The upstream is silent (a slow reasoning model): keep idle timers of load balancers from
      // closing the connection. (Not while blocked on a caller that does not read: nothing would reach it.)
      if (now - this.lastActivity >= this.opts.keepAliveMs && !s.waitingForDrain()) s.keepAlive();
      this.nextKeepAliveAt = Math.max(now, this.lastActivity) + this.opts.keepAliveMs;
    }
    this.arm();
  };
}
