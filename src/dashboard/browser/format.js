// @ts-check
/** Numbers as the panels show them: percentiles, counts, durations and dollars. */

/**
 * The `p` quantile (0..1) of `arr` by nearest rank, or null when there is nothing to rank.
 * @param {number[]} arr
 * @param {number} p
 * @returns {number | null}
 */
export function pct(arr, p) {
  if (!arr.length) return null;
  var s = arr.slice().sort(function (a, b) { return a - b; });
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/**
 * `n` rounded with thousands separators, or with `digits` decimals; a dash when there is no number.
 * @param {number | null | undefined} n
 * @param {number} [digits]
 */
export function fmt(n, digits) {
  if (n == null || isNaN(n)) return '–';
  if (digits != null) return Number(n).toFixed(digits);
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Dollars with the precision the amount needs: a budget of a few cents still moves visibly.
 * @param {number} n
 */
export function usd(n) {
  return '$' + (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(4));
}
