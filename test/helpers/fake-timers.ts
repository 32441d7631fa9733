/**
 * A hand-driven `setTimeout` for tests of code that arms real timers (src/relay/stream-timer.ts:
 * keep-alive, idle and last-frame timers; src/relay/attempts.ts: the Retry-After wait;
 * src/relay/upstream-body.ts: the drain after [DONE]). While installed, the global
 * `setTimeout`/`clearTimeout` schedule on a {@link ManualClock}, and {@link FakeTimers.advance}
 * moves that clock, firing each due timer at its own time. No dependency: @sinonjs/fake-timers is
 * not in node_modules, and this is all the relay needs. `setImmediate`, `process.nextTick` and
 * promises stay real, so streams and continuations run as they do in production.
 *
 * mocha keeps its own references to the timer functions from before any test runs, so its
 * test timeouts are unaffected.
 */
import type { ManualClock } from '../../src/clock.js';

interface Scheduled {
  id: number;
  at: number;
  fn: () => void;
}

/** What the relay does with a timer besides clearing it. */
class FakeHandle {
  constructor(readonly id: number) {}
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
}

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;

/** Let promise continuations, `nextTick`s and stream events run (a few turns of the loop). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
}

export class FakeTimers {
  private queue: Scheduled[] = [];
  private nextId = 1;
  private installed = false;

  constructor(readonly clock: ManualClock) {}

  install(): void {
    if (this.installed) return;
    this.installed = true;
    const fakeSet = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): FakeHandle => {
      const id = this.nextId++;
      this.queue.push({ id, at: this.clock.monotonic() + Math.max(1, ms ?? 0), fn: () => fn(...args) });
      return new FakeHandle(id);
    };
    const fakeClear = (h: unknown): void => {
      if (h instanceof FakeHandle) this.queue = this.queue.filter((t) => t.id !== h.id);
      else if (h !== undefined && h !== null) realClearTimeout(h as NodeJS.Timeout);
    };
    globalThis.setTimeout = fakeSet as unknown as typeof globalThis.setTimeout;
    globalThis.clearTimeout = fakeClear as typeof globalThis.clearTimeout;
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
    this.queue = [];
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Move the clock `ms` forward, firing every timer that falls due on the way at its own time,
   * in order, and letting what it started run before the next one.
   */
  async advance(ms: number): Promise<void> {
    const target = this.clock.monotonic() + ms;
    await settle();
    for (;;) {
      let first: Scheduled | null = null;
      for (const t of this.queue) if (t.at <= target && (first === null || t.at < first.at)) first = t;
      if (first === null) break;
      this.queue = this.queue.filter((t) => t !== first);
      const now = this.clock.monotonic();
      if (first.at > now) this.clock.advance(first.at - now);
      first.fn();
      await settle();
    }
    const now = this.clock.monotonic();
    if (target > now) this.clock.advance(target - now);
    await settle();
  }
}
