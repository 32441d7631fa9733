// @ts-check
/**
 * Each feed event, from the EventSource (connection.js) to the state: parsed, counted, skipped
 * if its id was handled already, handed to its reducer, and the panels marked for redrawing.
 */
import { showInstance } from './header.js';
import { markDirty } from './render.js';
import { end, firstToken, hello, start } from './reduce-requests.js';
import { progress } from './reduce-throughput.js';
import { MAX_SEEN, S } from './state.js';

/**
 * @typedef {import('./feed-events.js').FeedEvents} FeedEvents
 * @typedef {import('./feed-events.js').FeedEventName} FeedEventName
 */

/**
 * @param {FeedEventName} name
 * @param {MessageEvent<string>} e
 */
export function onEvent(name, e) {
  /** @type {unknown} */
  var data;
  try { data = JSON.parse(e.data); } catch (err) { return; }
  S.events++;
  var fresh = true;
  // `feed.hello` and `feed.gap` have no `id:` of their own (src/admin/feed.ts): their
  // `lastEventId` is the one the browser kept from an earlier event, already remembered, and
  // checking it would drop them as repeats.
  if (e.lastEventId && name !== 'feed.hello' && name !== 'feed.gap') {
    S.lastEventId = e.lastEventId;
    fresh = remember(e.lastEventId);
  }
  if (!fresh) return;
  dispatch(name, data);
  markDirty();
}

/**
 * The feed's JSON is trusted to match its event name (same proxy, same version).
 * @param {FeedEventName} name
 * @param {unknown} data
 */
function dispatch(name, data) {
  /** @template {FeedEventName} K @param {K} _k @returns {FeedEvents[K]} */
  function as(_k) { return /** @type {FeedEvents[K]} */ (data); }
  switch (name) {
    case 'feed.hello': hello(as(name)); showInstance(); break;
    case 'feed.gap': S.missed += as(name).missed || 0; break;
    case 'request.start': start(as(name)); break;
    case 'request.first_token': firstToken(as(name)); break;
    case 'stream.open': S.streams.add(as(name).id); break;
    case 'stream.close': S.streams.delete(as(name).id); break;
    case 'request.rate_limited': S.rateLimited++; break;
    case 'upstream.failed': S.upstreamFailures++; break;
    case 'request.end': end(as(name)); break;
    case 'budget.update': { var u = as(name); S.budgets.set(u.budget, u); break; }
    case 'stream.progress': progress(as(name)); break;
  }
}

// Event ids already handled (a replay never repeats one, but a page must not count twice).
/** @param {string} id */
function remember(id) {
  if (S.seen.has(id)) return false;
  S.seen.add(id);
  S.seenOrder.push(id);
  if (S.seenOrder.length > MAX_SEEN) S.seen.delete(/** @type {string} */ (S.seenOrder.shift()));
  return true;
}
