// @ts-check
/**
 * The dashboard's entry point, loaded by index.html as `<script type="module">`: plain JavaScript
 * ES modules for the browser, no libraries, no build step. Every module is served as it is on
 * disk from a fixed list in src/dashboard/routes.ts (a new file must be added there), and all of
 * them are type-checked from their JSDoc by `tsc -p tsconfig.browser.json` (part of
 * `npm run typecheck` and `pretest`).
 *
 * The modules, one concept each:
 * - connection.js: the admin session and the EventSource, with sign-in and retry;
 * - feed-events.js: the event names and payload types read from `/admin/events`;
 * - dispatch.js: each event to its reducer, once per event id;
 * - state.js: the state those reducers write (exposed here as `window.__dash` for tests);
 * - reduce-requests.js: rows, in-flight requests and totals;
 * - reduce-throughput.js: tokens and errors per second;
 * - render.js: when panels are drawn; panel-*.js: each panel; header.js: the header's indicators;
 * - dom.js, format.js: element lookup and table cells, number formatting.
 *
 * Totals count `request.end` events since the page opened (deduplicated by event id). Tokens per
 * second move while streams run: streamed tokens come from the feed's `stream.progress` (content
 * chunks written each second), answers that were not streamed from their `request.end`. The
 * Budgets panel shows each budget's latest `budget.update` (or the hello's list).
 */
import { connect, showLogin, signIn, signOut } from './connection.js';
import { $ } from './dom.js';
import { render } from './render.js';
import { S } from './state.js';

// Where earlier versions of this page kept the raw key: removed on load, never written.
var LEGACY_KEY_STORE = 'llmProxyAdminKey';

/** @type {Window & { __dash?: import('./state.js').DashState }} */ (window).__dash = S;

$('login').addEventListener('submit', function (ev) {
  ev.preventDefault();
  var input = $('login-key', HTMLInputElement);
  var key = input.value.trim();
  if (!key) return;
  input.value = '';
  signIn(key).catch(function () { showLogin('The proxy is not reachable.'); });
});
$('sign-out').addEventListener('click', signOut);
try { sessionStorage.removeItem(LEGACY_KEY_STORE); localStorage.removeItem(LEGACY_KEY_STORE); } catch (e) { /* storage disabled */ }
setInterval(function () { render(false); }, 250);
render(true);
connect();
