/**
 * A request's cancellation: the part of `AbortController`/`AbortSignal` the proxy uses, as one
 * plain object (docs/ARCHITECTURE.md "Performance rules"). Node's `AbortController` is an
 * EventTarget with a separate signal object; creating one and adding and removing its listener cost
 * ~9 µs per request in the non-streaming profile (`bench/profile.ts --scenario json`:
 * `createAbortSignal`, `addEventListener`, `removeEventListener`), and it holds about 2 KB of heap
 * per open stream. This is a field and a small listener list.
 *
 * A real `AbortSignal` satisfies {@link CancelSignal}, so tests and callers may still pass one;
 * APIs that need a real signal (fetch) get one from {@link toAbortSignal}.
 */

/**
 * Reason attached to aborts caused by shutdown (vs. a caller that left). Here rather than in
 * src/shutdown.ts, which aborts with it, because the relay (src/relay/chat.ts) reads it and sits
 * below the server's lifecycle (.dependency-cruiser.cjs).
 */
export const SHUTDOWN = new Error('server shutdown');

/** What code that may be cancelled reads: a real `AbortSignal` fits too. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** What owns a cancellation: a real `AbortController` fits too. */
export interface Canceller {
  readonly signal: CancelSignal;
  abort(reason?: unknown): void;
}

/**
 * Controller and signal in one object (`signal` is the object itself). Like `AbortController`:
 * `abort` is idempotent, runs the listeners synchronously in the order they were added, and
 * without a reason records an `AbortError`; a listener that throws does not stop the others, and
 * its error is rethrown outside (as an EventTarget reports it, an uncaught exception).
 */
export class Cancel implements Canceller, CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  /** Most requests have one or two listeners; null until the first. */
  private listeners: Array<() => void> | null = null;

  get signal(): this {
    return this;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    const ls = this.listeners;
    this.listeners = null;
    if (ls === null) return;
    for (const fn of ls) {
      try {
        fn();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Every listener is called at most once (abort happens once), so `once` changes nothing. */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    const ls = (this.listeners ??= []);
    // As on an EventTarget, the same listener twice is one listener.
    if (!ls.includes(listener)) ls.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const ls = this.listeners;
    if (ls === null) return;
    const i = ls.indexOf(listener);
    if (i >= 0) ls.splice(i, 1);
  }
}

/**
 * A real `AbortSignal` that follows `s` (`s` itself when it is one), for APIs that require one:
 * fetch, whose signal also ends the response body, so it follows `s` for as long as `s` lives.
 */
export function toAbortSignal(s: CancelSignal): AbortSignal {
  if (s instanceof AbortSignal) return s;
  const ctrl = new AbortController();
  if (s.aborted) ctrl.abort(s.reason);
  else s.addEventListener('abort', () => ctrl.abort(s.reason));
  return ctrl.signal;
}
