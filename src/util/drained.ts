/**
 * Wait for a writable to take more (`drain`) or go away (`close`). Both listeners are removed when
 * either fires: a long stream to a slow reader waits many times on the same response, and `once`
 * would leave the other listener behind on each wait (MaxListenersExceededWarning,
 * test/security/upstream-bounds.test.ts).
 */
import type { Writable } from 'node:stream';

/** Resolves when `w` can take more data, or has closed (at once when already destroyed). */
export function drained(w: Pick<Writable, 'destroyed' | 'on' | 'off'>): Promise<void> {
  if (w.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
