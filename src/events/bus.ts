import type { BudgetUpdate, LifecycleEventName, LifecycleEvents } from './types.js';

/** A synchronous listener: runs inline, must be cheap (metrics). */
export type Listener<K extends LifecycleEventName> = (payload: LifecycleEvents[K]) => void;

/** Options for {@link EventBus.subscribeQueued}. */
export interface QueuedOptions {
  /** Most events held for this subscriber before new ones are dropped (and counted). */
  maxQueue: number;
}

/**
 * The lifecycle event bus. Publishing never blocks and never throws into the relay:
 * inline listeners are wrapped in try/catch; queued subscribers get a bounded queue drained on a
 * later tick, and when it is full the event is dropped and counted in {@link EventBus.dropped}.
 */
export class EventBus {
  private readonly listeners = new Map<LifecycleEventName, Array<(p: unknown) => void>>();
  /** Events dropped because a queued subscriber was too slow. */
  dropped = 0;
  /** Errors thrown by listeners (swallowed so a bad subscriber cannot break a stream). */
  listenerErrors = 0;

  /** Subscribe inline. Returns an unsubscribe function. */
  on<K extends LifecycleEventName>(name: K, fn: Listener<K>): () => void {
    const list = this.listeners.get(name) ?? [];
    list.push(fn as (p: unknown) => void);
    this.listeners.set(name, list);
    return () => {
      const cur = this.listeners.get(name);
      if (!cur) return;
      const i = cur.indexOf(fn as (p: unknown) => void);
      if (i >= 0) cur.splice(i, 1);
    };
  }

  /** Is anyone listening? Lets publishers skip building a payload. */
  has(name: LifecycleEventName): boolean {
    const l = this.listeners.get(name);
    return l !== undefined && l.length > 0;
  }

  /** Publish to every listener of `name`. */
  emit<K extends LifecycleEventName>(name: K, payload: LifecycleEvents[K]): void {
    const list = this.listeners.get(name);
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!(payload);
      } catch {
        this.listenerErrors++;
      }
    }
  }

  /**
   * Subscribe a possibly slow consumer to several events through a bounded queue. The handler is
   * called on a later tick with events in order; an event arriving when `maxQueue` are waiting is
   * dropped and counted, so the publisher (the relay) is never slowed.
   */
  subscribeQueued(
    names: readonly LifecycleEventName[],
    handler: (name: LifecycleEventName, payload: unknown) => void | Promise<void>,
    opts: QueuedOptions,
  ): () => void {
    const queue: Array<[LifecycleEventName, unknown]> = [];
    let draining = false;
    const drain = async (): Promise<void> => {
      while (queue.length > 0) {
        const [n, p] = queue.shift()!;
        try {
          // Await only a handler that is async: a microtask per event otherwise.
          const r = handler(n, p);
          if (r !== undefined) await r;
        } catch {
          this.listenerErrors++;
        }
      }
      draining = false;
    };
    const offs = names.map((name) =>
      this.on(name, (payload: unknown) => {
        if (queue.length >= opts.maxQueue) {
          this.dropped++;
          return;
        }
        queue.push([name, payload]);
        if (!draining) {
          draining = true;
          setImmediate(() => void drain());
        }
      }),
    );
    return () => offs.forEach((off) => off());
  }
}

/** The one method of a limiter observer that {@link withBudgetEvents} extends. */
interface BudgetObserver {
  budget(name: string, spentUsd: number, limitUsd: number): void;
}

/**
 * `observer`, whose `budget` also publishes `budget.update` on `bus` (when anyone listens), so the
 * live feed sees spend without src/limits knowing of the feed (wired in src/access.ts).
 */
export function withBudgetEvents<O extends BudgetObserver>(observer: O, bus: EventBus, now: () => number): O {
  return {
    ...observer,
    budget: (name: string, spentUsd: number, limitUsd: number): void => {
      observer.budget(name, spentUsd, limitUsd);
      if (bus.has('budget.update')) {
        const update: BudgetUpdate = { budget: name, spentUsd, limitUsd, at: now() };
        bus.emit('budget.update', update);
      }
    },
  };
}
