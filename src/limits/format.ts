/**
 * How OpenAI writes durations in `x-ratelimit-reset-*` headers and in "Please try again in …":
 * Go's `time.Duration.String()` — `12ms`, `1s`, `1.5s`, `8.64s`, `2m52.8s`, `6m0s`, `1h0m0s`.
 * OpenAI's rate-limit guide shows `1s` and `6m0s` as the sample values; captured responses show
 * `6ms`, `825ms`, `3.114s`, `8.64s`, and 429 messages say "Please try again in 2.094s".
 * We work in whole milliseconds, rounded up so a client that waits the announced time is not
 * early; Go would print `1.5ms` for sub-millisecond values, which we never produce.
 */

/** Format `ms` (rounded up to a whole millisecond, negative → 0) the way OpenAI does. */
export function formatResetDuration(ms: number): string {
  const total = Number.isFinite(ms) ? Math.max(0, Math.ceil(ms)) : 0;
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const whole = Math.floor(millis / 1000);
  const frac = millis % 1000;
  // Go trims trailing zeros of the fraction and drops the point when nothing is left.
  const seconds = frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
