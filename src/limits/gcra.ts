/**
 * The limiter's arithmetic, pure (test/unit/limits.test.ts): GCRA, the "generic cell rate algorithm", which is a
 * token bucket written as one number.
 *
 * A bucket of `capacity` units that refills continuously at capacity / {@link WINDOW_MS} per ms
 * (rpm 30 → one request back every 2 s; tpm 20000 → one token every 3 ms) is stored as its TAT,
 * "theoretical arrival time": the instant at which the bucket will be full again. A TAT at or
 * before now means full. From it:
 *   used      = (TAT − now) × rate          (clamped at 0; above capacity = debt)
 *   remaining = capacity − used
 *   reset     = TAT − now                   (OpenAI's x-ratelimit-reset-*: "time until the rate
 *                                            limit resets to its initial state")
 * Charging `cost` units moves TAT to max(TAT, now) + cost / rate, allowed only if the bucket
 * does not overflow: new TAT − now ≤ WINDOW_MS. So a full bucket takes a burst of exactly
 * `capacity`, then one unit per 1/rate — there is no window boundary to burst across twice.
 * Settling adds the difference between actual and reserved tokens unconditionally: a refund
 * moves TAT back (never before now: a bucket cannot be fuller than full), an overrun pushes it
 * forward, past now + WINDOW_MS if need be — debt that later requests wait out.
 *
 * The Redis store's Lua script (redis-store.ts) does the same arithmetic on the server; both
 * share these constants and the tests run the same cases against both.
 */

/** Every limit is per minute (rpm, tpm): the bucket refills completely in one minute. */
export const WINDOW_MS = 60_000;

/**
 * Slack, in ms of TAT, for floating-point rounding: a TAT near 1.7e12 ms has a resolution of
 * ~2.4e-4 ms, and a burst of `capacity` charges adds up that many roundings. 0.01 ms is far
 * below one unit for any rpm, and under one token for tpm up to 6 million.
 */
export const EPSILON_MS = 0.01;

/** Ms per unit: how long one request (or token) takes to come back. */
export const msPerUnit = (capacity: number): number => WINDOW_MS / capacity;

/** What a bucket looks like at `now`. */
export interface BucketView {
  /** Units in use (refilling); above `capacity` when in debt. */
  used: number;
  /** capacity − used; negative when in debt. */
  remaining: number;
  /** Ms until the bucket is full again (0 when full). */
  resetMs: number;
}

/** The bucket with TAT `tat` (0 or any past time = full), seen at `now`. */
export function viewBucket(tat: number, now: number, capacity: number): BucketView {
  const resetMs = Math.max(0, tat - now);
  const used = resetMs / msPerUnit(capacity);
  return { used, remaining: capacity - used, resetMs };
}

/**
 * Whole units left, as headers and gauges show them: floored, but with the same slack as
 * {@link charge}, so "1 remaining" always means one more unit would be admitted.
 */
export function wholeRemaining(view: BucketView, capacity: number): number {
  return Math.floor(view.remaining + EPSILON_MS / msPerUnit(capacity));
}

/** Whole units in use, rounded up (with the same slack), as a refusal message says "Used N". */
export function wholeUsed(view: BucketView, capacity: number): number {
  return Math.ceil(view.used - EPSILON_MS / msPerUnit(capacity));
}

/** The outcome of trying to charge a bucket. */
export type ChargeResult =
  | { ok: true; tat: number }
  | {
      ok: false;
      /** Ms until the charge would fit; Infinity when `cost` exceeds `capacity` (it never will). */
      retryMs: number;
    };

/** Charge `cost` units if they fit; the new TAT, or how long until they would fit. */
export function charge(tat: number, now: number, capacity: number, cost: number): ChargeResult {
  const next = Math.max(tat, now) + cost * msPerUnit(capacity);
  const over = next - now - WINDOW_MS;
  if (over <= EPSILON_MS) return { ok: true, tat: next };
  if (cost > capacity) return { ok: false, retryMs: Infinity };
  return { ok: false, retryMs: over };
}

/**
 * Settle a bucket: add `delta` units (negative = refund) without any check. Returns the new
 * TAT, never before `now` (a refund cannot make a bucket fuller than full).
 */
export function adjust(tat: number, now: number, capacity: number, delta: number): number {
  return Math.max(now, Math.max(tat, now) + delta * msPerUnit(capacity));
}
