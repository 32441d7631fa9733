/**
 * What the limiter needs from a store (memory or Redis): two atomic operations.
 *
 * `admit` checks every bucket and every concurrency slot set of one request and either charges
 * all of them or none; `settle` applies token corrections and releases slots. A store does no
 * policy: which buckets apply, how a refusal is worded and what the headers say are decided by
 * policy.ts from the numbers a store returns (TATs as defined in gcra.ts, and slot counts).
 */

/** One rate bucket to charge at admission. `id` is unique per scope and kind, e.g. `key:demo:tokens`. */
export interface BucketCharge {
  id: string;
  capacity: number;
  cost: number;
}

/** One concurrency slot set to take a slot in. */
export interface SlotTake {
  id: string;
  max: number;
}

/**
 * One spend budget to charge at admission (budget-math.ts): refused when `spent + cost > limit`.
 * Amounts are whole nano-dollars; `expireAt` (wall-clock ms) is the period's end, null for `total`.
 */
export interface BudgetCharge {
  id: string;
  limit: number;
  cost: number;
  expireAt: number | null;
}

export interface AdmitInput {
  buckets: readonly BucketCharge[];
  slots: readonly SlotTake[];
  /** Spend budgets (at most one today: a key names one); absent = none. */
  budgets?: readonly BudgetCharge[];
  /** Unique per admission; names the slot in stores that keep slot members (Redis). */
  slotId: string;
}

export interface AdmitOutput {
  admitted: boolean;
  /** The store's clock when it decided (ms; the Redis server's clock for Redis). */
  now: number;
  /** Per bucket, in input order: the TAT after charging when admitted, the untouched TAT when refused. */
  tats: number[];
  /** Per slot set, in input order: slots in use after taking ours when admitted, before when refused. */
  inUse: number[];
  /** Per budget, in input order: spent after charging when admitted, before when refused. */
  spent: number[];
}

/** One token bucket to correct at settle time: `delta` units (negative = refund). */
export interface BucketAdjust {
  id: string;
  capacity: number;
  delta: number;
}

export interface SettleInput {
  buckets: readonly BucketAdjust[];
  /** Slot set ids to release this admission's slot from. */
  slots: readonly string[];
  slotId: string;
  /** Budgets to correct by `delta` nano-dollars (negative = refund); absent = none. */
  budgets?: ReadonlyArray<{ id: string; delta: number; expireAt: number | null }>;
}

export interface SettleOutput {
  now: number;
  /** Per bucket, in input order: the TAT after the correction. */
  tats: number[];
  /** Per slot set, in input order: slots still in use after the release. */
  inUse: number[];
  /** Per budget, in input order: spent after the correction. */
  spent: number[];
}

export interface LimitStore {
  admit(input: AdmitInput): Promise<AdmitOutput>;
  settle(input: SettleInput): Promise<SettleOutput>;
  /** Stop timers; does not close a client the store was given. */
  close(): Promise<void>;
}
