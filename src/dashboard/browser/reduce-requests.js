// @ts-check
/**
 * The requests the page knows of: their rows (newest first, at most MAX_ROWS), the set in flight,
 * and the totals since the page opened, overall, by key and by model. Totals count each
 * `request.end` once (dispatch.js skips an event id it has seen).
 */
import { MAX_ROWS, S, TTFT_WINDOW } from './state.js';
import { spread } from './reduce-throughput.js';

/**
 * @typedef {import('./feed-events.js').Hello} Hello
 * @typedef {import('./feed-events.js').EndEvent} EndEvent
 * @typedef {import('./feed-events.js').LifecycleEvents} LifecycleEvents
 * @typedef {import('./state.js').Row} Row
 * @typedef {import('./state.js').Totals} Totals
 */

/**
 * The first event of every feed connection, a new one after each reconnect.
 * @param {Hello} d
 */
export function hello(d) {
  if (S.instance && S.instance !== d.instance) S.restarts++;
  S.instance = d.instance;
  S.skewMs = Date.now() - d.now;
  // The server's in-flight set replaces ours: requests that ended while we were away are
  // replayed after this event, or are gone with a restarted proxy.
  S.active = new Map();
  S.streams = new Set();
  d.active.forEach(function (a) {
    var row = addRow({ id: a.id, key: a.key, model: a.model, stream: a.stream, startedAt: a.at, phase: a.ttftMs != null ? 'streaming' : 'waiting', ttftMs: a.ttftMs });
    S.active.set(a.id, row);
    if (a.streaming) S.streams.add(a.id);
  });
  S.rows.forEach(function (r) { if (r.phase !== 'ended' && !S.active.has(r.id)) r.phase = 'lost'; });
  // The server's latest spend replaces ours (budgets it has not reported since a restart stay).
  (d.budgets || []).forEach(function (b) { S.budgets.set(b.budget, b); });
}

/** @param {LifecycleEvents['request.start']} d */
export function start(d) {
  var row = addRow({ id: d.id, key: d.key, model: d.model, stream: d.stream, startedAt: d.at, phase: 'waiting', ttftMs: null });
  S.active.set(d.id, row);
}

/** @param {LifecycleEvents['request.first_token']} d */
export function firstToken(d) {
  var r = S.byId.get(d.id);
  if (r && r.phase !== 'ended') { r.ttftMs = d.ttftMs; r.phase = 'streaming'; }
}

/**
 * A new row on top, or the row already there for this id while it has not ended (a hello lists
 * what a replayed `request.start` also announces).
 * @param {Row} row
 * @returns {Row}
 */
function addRow(row) {
  var old = S.byId.get(row.id);
  if (old && old.phase !== 'ended') { Object.assign(old, row, { phase: old.phase === 'lost' ? row.phase : old.phase }); return old; }
  S.rows.unshift(row);
  S.byId.set(row.id, row);
  while (S.rows.length > MAX_ROWS) {
    var gone = /** @type {Row} */ (S.rows.pop());
    if (S.byId.get(gone.id) === gone) S.byId.delete(gone.id);
  }
  return row;
}

/** @param {EndEvent} d */
export function end(d) {
  var row = S.byId.get(d.id);
  if (!row || row.phase === 'ended') row = addRow({ id: d.id });
  Object.assign(row, d);
  row.phase = 'ended';
  S.active.delete(d.id);
  S.streams.delete(d.id);
  var failed = d.endReason !== 'done' || d.status >= 400;
  row.failed = failed;
  S.total.requests++;
  if (failed) S.total.errors++;
  S.total.prompt += d.promptTokens || 0;
  S.total.completion += d.completionTokens || 0;
  tally(S.byKey, d.key, d, failed);
  tally(S.byModel, d.model, d, failed);
  if (d.ttftMs != null) { S.ttfts.push(d.ttftMs); if (S.ttfts.length > TTFT_WINDOW) S.ttfts.shift(); }
  spread(d, failed);
}

/**
 * @param {Map<string, Totals>} map
 * @param {string} name
 * @param {EndEvent} d
 * @param {boolean} failed
 */
function tally(map, name, d, failed) {
  var t = map.get(name);
  if (!t) { t = { requests: 0, errors: 0, prompt: 0, completion: 0, ttfts: [] }; map.set(name, t); }
  t.requests++;
  if (failed) t.errors++;
  t.prompt += d.promptTokens || 0;
  t.completion += d.completionTokens || 0;
  if (d.ttftMs != null) { t.ttfts.push(d.ttftMs); if (t.ttfts.length > TTFT_WINDOW) t.ttfts.shift(); }
}
