/**
 * Graceful shutdown (test/integration/shutdown-drain.test.ts): the set of relays in flight, so SIGTERM can stop taking
 * new requests, let open streams finish within `shutdownGraceMs`, then end the rest with an error
 * frame.
 */

import { SHUTDOWN, type Canceller } from './util/cancel.js';

/** Relays in flight. */
export class Inflight {
  private readonly set = new Set<Canceller>();
  private readonly waiters: Array<() => void> = [];

  get size(): number {
    return this.set.size;
  }

  /** Track a relay; call the returned function when it ends. */
  add(ctrl: Canceller): () => void {
    this.set.add(ctrl);
    return () => {
      this.set.delete(ctrl);
      if (this.set.size === 0) this.waiters.splice(0).forEach((w) => w());
    };
  }

  /** Was this relay aborted by shutdown? */
  isShutdown(ctrl: Canceller): boolean {
    return ctrl.signal.aborted && ctrl.signal.reason === SHUTDOWN;
  }

  /** Resolves when no relay is left, or after `ms` (returns whether it drained). */
  idle(ms: number): Promise<boolean> {
    if (this.set.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** End every relay still open (they write their error frame and finish). */
  abortAll(): void {
    for (const c of this.set) c.abort(SHUTDOWN);
  }
}
