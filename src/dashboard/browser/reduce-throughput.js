// @ts-check
/**
 * Throughput per second for the chart and the tokens-per-second card: completion tokens and
 * failures, bucketed by the second they happened in, on this browser's clock (`S.skewMs` is set
 * from each `feed.hello`). Streamed tokens are counted while they are written (`stream.progress`),
 * answers that were not streamed at their `request.end`.
 */
import { CHART_SECONDS, S } from './state.js';

/**
 * @typedef {import('./feed-events.js').EndEvent} EndEvent
 * @typedef {import('./feed-events.js').StreamProgress} StreamProgress
 * @typedef {import('./state.js').Bucket} Bucket
 */

/**
 * The bucket of second `sec` (epoch seconds, browser clock), created empty on first use.
 * @param {number} sec
 * @returns {Bucket}
 */
export function bucket(sec) {
  var b = S.buckets.get(sec);
  if (!b) { b = { tokens: 0, errors: 0, streams: null }; S.buckets.set(sec, b); }
  return b;
}

// Completion tokens spread evenly over the seconds the answer was generated in (server time
// moved to this browser's clock), so the chart shows throughput, not end times.
/**
 * @param {EndEvent} d
 * @param {boolean} failed
 */
export function spread(d, failed) {
  var endAt = (d.startedAt || Date.now() - S.skewMs) + (d.durationMs || 0) + S.skewMs;
  if (failed) bucket(Math.floor(endAt / 1000)).errors++;
  // A stream's tokens were counted as they were written (`stream.progress`); counting them
  // again here would double them.
  var tokens = d.stream ? 0 : d.completionTokens || 0;
  if (!tokens) return;
  var from = endAt - Math.max(0, (d.durationMs || 0) - (d.ttftMs || 0));
  var first = Math.floor(from / 1000), last = Math.floor(endAt / 1000);
  var now = Math.floor(Date.now() / 1000);
  if (last - first > CHART_SECONDS) first = last - CHART_SECONDS;
  var span = Math.max(1, endAt - from);
  for (var s = first; s <= last; s++) {
    if (s < now - CHART_SECONDS) continue;
    var a = Math.max(from, s * 1000), b = Math.min(endAt, s * 1000 + 1000);
    var share = first === last ? tokens : tokens * Math.max(0, b - a) / span;
    bucket(s).tokens += share;
  }
}

// Chunks written in the interval before `at`, in the second the interval's middle falls in.
/** @param {StreamProgress} d */
export function progress(d) {
  if (!d.chunks) return;
  var sec = Math.floor((d.at + S.skewMs - d.intervalMs / 2) / 1000);
  if (sec < Math.floor(Date.now() / 1000) - CHART_SECONDS) return;
  bucket(sec).tokens += d.chunks;
}
