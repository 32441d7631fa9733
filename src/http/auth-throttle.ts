/**
 * Failed authentications per client address (401s on the API, admin routes and `/metrics`, and
 * failed admin sign-ins): past `max` in a window of `windowMs`, the address is answered 429
 * before its key is even looked at, until the window ends. Guessing keys then costs an attacker
 * `windowMs / max` per guess per address; a caller with a valid key is never counted.
 *
 * State is one small entry per failing address, in a map bounded at `maxAddresses` (the oldest
 * entry goes first), so a flood from many addresses cannot grow it without bound
 * (test/unit/auth-throttle.test.ts).
 */
import type { Clock } from '../clock.js';
import { AuthThrottledError } from '../errors.js';

/** Options for {@link AuthThrottle}. */
export interface AuthThrottleOptions {
  max: number;
  windowMs: number;
  clock: Clock;
  /** Most addresses tracked at once; default 10,000. */
  maxAddresses?: number;
}

interface Window {
  startedAt: number;
  failures: number;
}

/** Counts failed authentications per address and refuses an address past the limit. */
export class AuthThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly maxAddresses: number;

  constructor(private opts: AuthThrottleOptions) {
    this.maxAddresses = opts.maxAddresses ?? 10_000;
  }

  /** A reloaded configuration's limit and window; the counts so far are kept. */
  configure(next: { max: number; windowMs: number }): void {
    this.opts = { ...this.opts, ...next };
  }

  /** Throws a 429 when `address` is over its failure limit; free when it has none. */
  check(address: string): void {
    if (this.windows.size === 0) return;
    const w = this.current(address);
    if (w === null || w.failures < this.opts.max) return;
    const retryAfterMs = w.startedAt + this.opts.windowMs - this.opts.clock.monotonic();
    throw new AuthThrottledError(`Too many failed authentications from this address; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, retryAfterMs);
  }

  /** Count one failed authentication from `address`. */
  fail(address: string): void {
    const w = this.current(address);
    if (w !== null) {
      w.failures++;
      return;
    }
    if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(address, { startedAt: this.opts.clock.monotonic(), failures: 1 });
  }

  /** Addresses tracked now (tests). */
  get size(): number {
    return this.windows.size;
  }

  private current(address: string): Window | null {
    const w = this.windows.get(address);
    if (w === undefined) return null;
    if (this.opts.clock.monotonic() - w.startedAt >= this.opts.windowMs) {
      this.windows.delete(address);
      return null;
    }
    return w;
  }
}
