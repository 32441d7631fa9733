/** Waiting between steps, shared by both front ends ({@link import('./handler.js')}, {@link import('./server.js')}). */

/**
 * Resolve after `ms`; reject with `signal.reason` as soon as `signal` aborts, clearing the timer
 * (so an aborted request leaves no timer behind).
 */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
