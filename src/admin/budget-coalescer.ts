/**
 * The feed's `budget.update` events, coalesced: the limiter reports a budget after every
 * admission and settle, and a burst of requests must not flood the feed. Each report is a Map
 * write (it runs inside admission); at most one event per budget per `coalesceMs` is published,
 * always the latest value (test/integration/feed-budgets.test.ts).
 */
import type { Clock } from '../clock.js';
import type { BudgetUpdate } from '../events/types.js';

/** Budgets come from config; a bound all the same. */
const BUDGETS_MAX = 1_000;

/** Latest value per budget, published on a timer. */
export class BudgetCoalescer {
  private readonly latest = new Map<string, BudgetUpdate>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = -Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly coalesceMs: number,
    private readonly publish: (u: BudgetUpdate) => void,
  ) {}

  /** A budget's new value: kept, published with the next flush. */
  report(u: BudgetUpdate): void {
    if (!this.latest.has(u.budget) && this.latest.size >= BUDGETS_MAX) return;
    this.latest.set(u.budget, u);
    this.pending.add(u.budget);
    if (this.timer !== null) return;
    const wait = Math.max(0, this.lastFlush + this.coalesceMs - this.clock.monotonic());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }

  /** The latest value of every budget seen (a new feed client's hello). */
  values(): BudgetUpdate[] {
    return [...this.latest.values()];
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = this.clock.monotonic();
    for (const name of this.pending) {
      const u = this.latest.get(name);
      if (u) this.publish({ ...u });
    }
    this.pending.clear();
  }
}
