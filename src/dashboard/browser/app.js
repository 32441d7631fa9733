// @ts-check
/**
 * The dashboard's script, served as it is at `/dashboard/app.js` (src/dashboard/routes.ts): plain
 * JavaScript for the browser, no libraries, no build step. The types are JSDoc, checked by
 * `tsc -p tsconfig.browser.json` (part of `npm run typecheck` and `pretest`); the event payloads
 * are typed from the server's own definitions (src/events/types.ts), so a renamed field fails
 * the check instead of showing blanks.
 *
 * How it connects:
 * 1. `GET /admin/session` says whether the proxy needs an admin key and whether this browser
 *    has a session (the HttpOnly cookie). If it needs one and there is none, the sign-in form is
 *    shown. The key typed there is sent once as `Authorization: Bearer` to `POST /admin/session`,
 *    which sets the cookie, and is then forgotten: the page writes it to no storage and keeps it
 *    in no variable, so a script running in the page (an extension, an XSS) finds no admin
 *    credential to take away, only a cookie it cannot read. When the session ends (expired,
 *    signed out, the proxy restarted and forgot it) the page asks for the key again
 *    (test/browser/dashboard.test.ts checks both storages after sign-in).
 * 2. `new EventSource('/admin/events')` (same origin: the cookie goes along). The browser
 *    reconnects by itself after a drop, sending `Last-Event-ID`; the feed replays what it missed.
 * 3. When the EventSource gives up (the proxy answered 401 after a restart forgot the session,
 *    or 503), the page goes back to step 1 with a backoff (0.5 s doubling to 5 s) and opens a new
 *    EventSource with `?lastEventId=` so nothing still in the feed's buffer is missed.
 *
 * Totals count `request.end` events since the page opened (deduplicated by event id). Tokens per
 * second move while streams run: streamed tokens come from the feed's `stream.progress` (content
 * chunks written each second), answers that were not streamed from their `request.end`. The
 * Budgets panel shows each budget's latest `budget.update` (or the hello's list).
 * `window.__dash` exposes the state for tests.
 */

/**
 * @typedef {import('../../events/types.js').LifecycleEvents} LifecycleEvents
 * @typedef {import('../../events/types.js').RequestRecord} RequestRecord
 * @typedef {import('../../events/types.js').BudgetUpdate} BudgetUpdate
 * @typedef {import('../../events/types.js').StreamProgress} StreamProgress
 * @typedef {'live' | 'connecting' | 'reconnecting' | 'offline' | 'login'} ConnState
 * @typedef {'waiting' | 'streaming' | 'ended' | 'lost'} Phase
 */
/**
 * A request in flight as `feed.hello` lists it (src/admin/feed.ts, `ActiveRequest`).
 * @typedef {{ id: string, key: string, model: string, stream: boolean, at: number, streaming: boolean, ttftMs: number | null }} ActiveRequest
 */
/**
 * `feed.hello`: the fields of src/admin/feed.ts `hello()` this page reads.
 * @typedef {{ instance: string, now: number, active: ActiveRequest[], budgets?: BudgetUpdate[] }} Hello
 */
/**
 * `request.end` as the feed publishes it (src/logging/record.ts `feedFields`): the record's
 * fields this page reads, plus the computed `tokensPerSecond`.
 * @typedef {Pick<RequestRecord, 'id' | 'key' | 'model' | 'stream' | 'status' | 'endReason' | 'startedAt' | 'ttftMs' | 'durationMs' | 'bytesOut' | 'promptTokens' | 'completionTokens' | 'tokenSource'> & { tokensPerSecond?: number | null }} EndEvent
 */
/**
 * One line of the requests table: what `request.start` said, then what `request.end` adds.
 * @typedef {{ id: string, phase?: Phase, failed?: boolean } & Partial<Omit<EndEvent, 'id'>>} Row
 */
/** @typedef {{ requests: number, errors: number, prompt: number, completion: number, ttfts: number[] }} Totals */
/** @typedef {{ tokens: number, errors: number, streams: number | null }} Bucket */
/**
 * @typedef {object} DashState
 * @property {ConnState} status
 * @property {string | null} instance
 * @property {number} restarts
 * @property {number} opens
 * @property {number} events
 * @property {string} lastEventId
 * @property {number} skewMs
 * @property {Row[]} rows
 * @property {Map<string, Row>} byId
 * @property {Map<string, Row>} active
 * @property {Set<string>} streams
 * @property {Set<string>} seen
 * @property {string[]} seenOrder
 * @property {{ requests: number, errors: number, prompt: number, completion: number }} total
 * @property {Map<string, Totals>} byKey
 * @property {Map<string, Totals>} byModel
 * @property {number[]} ttfts
 * @property {Map<number, Bucket>} buckets
 * @property {number} missed
 * @property {number} rateLimited
 * @property {number} upstreamFailures
 * @property {number} openedAt
 * @property {Map<string, BudgetUpdate>} budgets
 */
/**
 * Every event name the page listens to, with its payload.
 * @typedef {{
 *   'feed.hello': Hello,
 *   'feed.gap': { missed?: number },
 *   'request.start': LifecycleEvents['request.start'],
 *   'request.first_token': LifecycleEvents['request.first_token'],
 *   'stream.open': LifecycleEvents['stream.open'],
 *   'stream.close': LifecycleEvents['stream.close'],
 *   'request.rate_limited': LifecycleEvents['request.rate_limited'],
 *   'upstream.failed': LifecycleEvents['upstream.failed'],
 *   'request.end': EndEvent,
 *   'budget.update': BudgetUpdate,
 *   'stream.progress': StreamProgress,
 * }} FeedEvents
 * @typedef {keyof FeedEvents} FeedEventName
 */

(function () {
  'use strict';
  // Where earlier versions of this page kept the raw key: removed on load, never written.
  var LEGACY_KEY_STORE = 'llmProxyAdminKey';
  var MAX_ROWS = 100, MAX_SEEN = 5000, CHART_SECONDS = 60, TTFT_WINDOW = 200;
  /** @type {FeedEventName[]} */
  var NAMES = ['feed.hello', 'feed.gap', 'request.start', 'request.first_token', 'stream.open', 'stream.close',
    'request.rate_limited', 'upstream.failed', 'request.end', 'budget.update', 'stream.progress'];
  /** @type {Record<ConnState, string>} */
  var LABELS = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', offline: 'offline · retrying', login: 'sign-in required' };

  /** @type {DashState} */
  var S = {
    status: 'connecting', instance: null, restarts: 0, opens: 0, events: 0, lastEventId: '', skewMs: 0,
    rows: [], byId: new Map(), active: new Map(), streams: new Set(), seen: new Set(), seenOrder: [],
    total: { requests: 0, errors: 0, prompt: 0, completion: 0 }, byKey: new Map(), byModel: new Map(),
    ttfts: [], buckets: new Map(), missed: 0, rateLimited: 0, upstreamFailures: 0, openedAt: Date.now(),
    budgets: new Map()
  };
  /** @type {Window & { __dash?: DashState }} */ (window).__dash = S;

  /** @type {EventSource | null} */
  var es = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  var retryTimer = null;
  var backoff = 500, dirty = true, hadSession = false;

  /**
   * The element with this id, checked to be of the expected kind: the page and this script
   * change together, and a mismatch should fail loudly, not render nothing.
   * @template {HTMLElement} T
   * @param {string} id
   * @param {{ new (): T }} [kind]
   * @returns {T}
   */
  function $(id, kind) {
    var el = document.getElementById(id);
    if (!(el instanceof (kind || HTMLElement))) throw new Error('dashboard: no element #' + id);
    return /** @type {T} */ (el);
  }

  /** @param {ConnState} s */
  function setStatus(s) {
    S.status = s;
    var el = $('conn');
    el.className = 'conn ' + s;
    el.setAttribute('data-state', s);
    $('conn-text').textContent = LABELS[s] || s;
  }

  // ---- connection ----------------------------------------------------------------------
  function connect() {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    fetch('/admin/session', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('session ' + r.status); return r.json(); })
      .then(/** @param {{ authRequired: boolean, authenticated: boolean }} s */ function (s) {
        $('sign-out').hidden = !s.authRequired;
        if (!s.authRequired || s.authenticated) {
          if (s.authRequired) hadSession = true;
          return open();
        }
        showLogin(hadSession ? 'The session has ended (it expired, or the proxy restarted): sign in again.' : '');
        hadSession = false;
      })
      .catch(function () { setStatus('offline'); retryLater(); });
  }

  // The key lives only in this call's argument and the request built from it; nothing below
  // refers to it, so it is gone once the request is sent.
  /**
   * @param {string} key
   * @returns {Promise<void>}
   */
  function signIn(key) {
    return fetch('/admin/session', { method: 'POST', credentials: 'same-origin', cache: 'no-store', headers: { authorization: 'Bearer ' + key } })
      .then(function (r) {
        if (r.ok) {
          hadSession = true;
          $('login').hidden = true;
          $('main').hidden = false;
          $('sign-out').hidden = false;
          return open();
        }
        if (r.status === 401 || r.status === 403) {
          return r.json().then(
            /** @param {{ error?: { message?: string } } | null} b */
            function (b) { showLogin(b && b.error && b.error.message ? b.error.message : 'Sign-in failed.'); },
            function () { showLogin('Sign-in failed.'); });
        }
        throw new Error('sign-in ' + r.status);
      });
  }

  /** @param {string} message */
  function showLogin(message) {
    if (es) { es.close(); es = null; }
    setStatus('login');
    $('login').hidden = false;
    $('main').hidden = true;
    $('login-error').textContent = message || '';
    $('login-key').focus();
  }

  function open() {
    if (es) es.close();
    var url = '/admin/events' + (S.lastEventId ? '?lastEventId=' + encodeURIComponent(S.lastEventId) : '');
    var mine = new EventSource(url);
    es = mine;
    if (S.status !== 'live') setStatus(S.opens > 0 ? 'reconnecting' : 'connecting');
    mine.onopen = function () {
      if (es !== mine) return;
      backoff = 500;
      S.opens++;
      setStatus('live');
    };
    mine.onerror = function () {
      if (es !== mine) return;
      if (mine.readyState === EventSource.CLOSED) {
        // The proxy refused the stream (401 after a restart, 503): start over from the session.
        mine.close();
        es = null;
        setStatus('offline');
        retryLater();
      } else {
        setStatus('reconnecting');
      }
    };
    NAMES.forEach(function (n) {
      mine.addEventListener(n, function (e) { if (es === mine) onEvent(n, e); });
    });
  }

  function retryLater() {
    if (retryTimer) return;
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 5000);
  }

  // ---- events ----------------------------------------------------------------------------
  /**
   * @param {FeedEventName} name
   * @param {MessageEvent<string>} e
   */
  function onEvent(name, e) {
    /** @type {unknown} */
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    S.events++;
    var fresh = true;
    if (e.lastEventId && name !== 'feed.hello' && name !== 'feed.gap') {
      S.lastEventId = e.lastEventId;
      fresh = remember(e.lastEventId);
    }
    if (!fresh) return;
    dispatch(name, data);
    dirty = true;
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
      case 'feed.hello': hello(as(name)); break;
      case 'feed.gap': S.missed += as(name).missed || 0; break;
      case 'request.start': start(as(name)); break;
      case 'request.first_token': {
        var d = as(name);
        var r = S.byId.get(d.id);
        if (r && r.phase !== 'ended') { r.ttftMs = d.ttftMs; r.phase = 'streaming'; }
        break;
      }
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

  /** @param {Hello} d */
  function hello(d) {
    if (S.instance && S.instance !== d.instance) S.restarts++;
    S.instance = d.instance;
    S.skewMs = Date.now() - d.now;
    $('instance').textContent = 'instance ' + d.instance + (S.restarts ? ' · ' + S.restarts + ' restart' + (S.restarts > 1 ? 's' : '') : '');
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
  function start(d) {
    var row = addRow({ id: d.id, key: d.key, model: d.model, stream: d.stream, startedAt: d.at, phase: 'waiting', ttftMs: null });
    S.active.set(d.id, row);
  }

  /**
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
  function end(d) {
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

  // Completion tokens spread evenly over the seconds the answer was generated in (server time
  // moved to this browser's clock), so the chart shows throughput, not end times.
  /**
   * @param {number} sec
   * @returns {Bucket}
   */
  function bucket(sec) {
    var b = S.buckets.get(sec);
    if (!b) { b = { tokens: 0, errors: 0, streams: null }; S.buckets.set(sec, b); }
    return b;
  }
  /**
   * @param {EndEvent} d
   * @param {boolean} failed
   */
  function spread(d, failed) {
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
  function progress(d) {
    if (!d.chunks) return;
    var sec = Math.floor((d.at + S.skewMs - d.intervalMs / 2) / 1000);
    if (sec < Math.floor(Date.now() / 1000) - CHART_SECONDS) return;
    bucket(sec).tokens += d.chunks;
  }

  // ---- rendering -------------------------------------------------------------------------
  /**
   * @param {number[]} arr
   * @param {number} p
   * @returns {number | null}
   */
  function pct(arr, p) {
    if (!arr.length) return null;
    var s = arr.slice().sort(function (a, b) { return a - b; });
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
  }
  /**
   * @param {number | null | undefined} n
   * @param {number} [digits]
   */
  function fmt(n, digits) {
    if (n == null || isNaN(n)) return '–';
    if (digits != null) return Number(n).toFixed(digits);
    return Math.round(n).toLocaleString('en-US');
  }
  /**
   * @param {HTMLTableRowElement} tr
   * @param {string | number | null | undefined} text
   * @param {string} [cls]
   */
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text == null ? '' : String(text);
    tr.appendChild(td);
    return td;
  }
  /**
   * @param {HTMLTableCellElement} td
   * @param {string} text
   * @param {string} cls
   */
  function badge(td, text, cls) {
    var span = document.createElement('span');
    span.className = 'badge ' + cls;
    span.textContent = text;
    td.appendChild(span);
  }

  function renderCards() {
    $('active-streams').textContent = fmt(S.streams.size);
    $('in-flight').textContent = S.active.size + ' in flight';
    $('requests').textContent = fmt(S.total.requests);
    $('errors').textContent = fmt(S.total.errors);
    $('error-hint').textContent = S.rateLimited + ' rate-limited · ' + S.upstreamFailures + ' upstream failures';
    var now = Math.floor(Date.now() / 1000), sum = 0;
    for (var s = now - 10; s < now; s++) { var b = S.buckets.get(s); if (b) sum += b.tokens; }
    $('tokens-per-second').textContent = fmt(sum / 10, 1);
    var p50 = pct(S.ttfts, 0.5), p95 = pct(S.ttfts, 0.95);
    $('ttft-p50').textContent = p50 == null ? '–' : fmt(p50) + ' ms';
    $('ttft-p95').textContent = 'p95 ' + (p95 == null ? '–' : fmt(p95) + ' ms');
    $('tokens-total').textContent = fmt(S.total.prompt + S.total.completion);
    $('tokens-split').textContent = fmt(S.total.prompt) + ' prompt · ' + fmt(S.total.completion) + ' completion';
    $('feed-note').textContent = S.missed ? S.missed + ' feed events missed (buffer overrun)' : '';
  }

  /**
   * @param {string} id
   * @param {Map<string, Totals>} map
   */
  function renderTotals(id, map) {
    var tbody = $(id, HTMLTableElement).tBodies[0];
    if (!tbody) return;
    var entries = Array.from(map.entries()).sort(function (a, b) { return b[1].requests - a[1].requests; });
    var frag = document.createDocumentFragment();
    entries.forEach(function (entry) {
      var name = entry[0], t = entry[1], tr = document.createElement('tr');
      tr.setAttribute('data-name', name);
      cell(tr, name);
      cell(tr, fmt(t.requests), 'n requests');
      cell(tr, fmt(t.errors), 'n errors');
      cell(tr, fmt(t.prompt), 'n prompt');
      cell(tr, fmt(t.completion), 'n completion');
      var p = pct(t.ttfts, 0.5);
      cell(tr, p == null ? '–' : fmt(p) + ' ms', 'n');
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
  }

  function renderBudgets() {
    var list = $('budgets');
    var entries = Array.from(S.budgets.values()).sort(function (a, b) { return a.budget < b.budget ? -1 : a.budget > b.budget ? 1 : 0; });
    $('budgets-panel').hidden = entries.length === 0;
    var frag = document.createDocumentFragment();
    entries.forEach(function (u) {
      var share = u.limitUsd > 0 ? Math.min(1, Math.max(0, u.spentUsd / u.limitUsd)) : 1;
      var row = document.createElement('div');
      row.className = 'budget' + (share >= 0.9 ? ' high' : '');
      row.setAttribute('data-name', u.budget);
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = u.budget;
      var amount = document.createElement('span');
      amount.className = 'amount';
      amount.textContent = usd(u.spentUsd) + ' / ' + usd(u.limitUsd);
      var bar = document.createElement('span');
      bar.className = 'bar';
      var fill = document.createElement('i');
      fill.style.width = (share * 100).toFixed(1) + '%';
      bar.appendChild(fill);
      row.append(name, amount, bar);
      frag.appendChild(row);
    });
    list.replaceChildren(frag);
  }

  /** @param {number} n */
  function usd(n) {
    return '$' + (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(4));
  }

  function renderRequests() {
    var tbody = $('requests-table', HTMLTableElement).tBodies[0];
    if (!tbody) return;
    var frag = document.createDocumentFragment();
    S.rows.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-id', r.id);
      tr.className = r.phase + (r.failed ? ' failed' : '');
      cell(tr, r.startedAt ? new Date(r.startedAt + S.skewMs).toLocaleTimeString() : '', 'time');
      cell(tr, r.id, 'id').title = r.id;
      cell(tr, r.key, 'key');
      cell(tr, r.model, 'model');
      cell(tr, r.stream == null ? '' : r.stream ? 'stream' : 'json', 'mode');
      cell(tr, r.phase === 'ended' ? r.status : '', 'n status');
      var reason = cell(tr, '', 'end');
      if (r.phase === 'ended') badge(reason, String(r.endReason), String(r.endReason));
      else badge(reason, r.phase === 'lost' ? 'unknown' : String(r.phase), String(r.phase));
      cell(tr, fmt(r.ttftMs), 'n ttft');
      cell(tr, r.phase === 'ended' ? fmt(r.durationMs) : '', 'n duration');
      var tok = r.phase === 'ended' && r.promptTokens != null ? (r.promptTokens + ' + ' + r.completionTokens + (r.tokenSource === 'estimated' ? ' est' : '')) : '';
      cell(tr, tok, 'n tokens');
      cell(tr, r.tokensPerSecond == null ? '' : fmt(r.tokensPerSecond, 1), 'n tps');
      cell(tr, r.phase === 'ended' ? fmt(r.bytesOut) : '', 'n bytes');
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
  }

  function renderChart() {
    var canvas = $('chart', HTMLCanvasElement);
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    var g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var now = Math.floor(Date.now() / 1000);
    var cur = bucket(now);
    cur.streams = Math.max(cur.streams || 0, S.streams.size);
    for (var k of S.buckets.keys()) if (k < now - CHART_SECONDS - 5) S.buckets.delete(k);
    var maxTok = 1, maxStreams = 1, s, b;
    for (s = now - CHART_SECONDS + 1; s <= now; s++) {
      b = S.buckets.get(s);
      if (!b) continue;
      maxTok = Math.max(maxTok, b.tokens);
      maxStreams = Math.max(maxStreams, b.streams || 0);
    }
    var pad = 28, plotH = h - 18, barW = (w - pad) / CHART_SECONDS;
    var css = getComputedStyle(document.documentElement);
    g.strokeStyle = css.getPropertyValue('--line');
    g.beginPath(); g.moveTo(pad, plotH + 0.5); g.lineTo(w, plotH + 0.5); g.stroke();
    g.fillStyle = css.getPropertyValue('--muted');
    g.font = '10px system-ui, sans-serif';
    g.fillText(fmt(maxTok), 2, 10);
    g.fillText('0', 2, plotH);
    g.fillText('-60 s', pad, h - 4);
    g.fillText('now', w - 22, h - 4);
    for (s = now - CHART_SECONDS + 1; s <= now; s++) {
      b = S.buckets.get(s);
      if (!b) continue;
      var x = pad + (s - (now - CHART_SECONDS + 1)) * barW;
      var bh = (b.tokens / maxTok) * (plotH - 14);
      g.fillStyle = css.getPropertyValue('--accent');
      g.fillRect(x + 1, plotH - bh, Math.max(1, barW - 2), bh);
      if (b.errors) { g.fillStyle = css.getPropertyValue('--bad'); g.fillRect(x + 1, plotH - 3, Math.max(1, barW - 2), 3); }
    }
    g.strokeStyle = css.getPropertyValue('--streams');
    g.lineWidth = 2;
    g.beginPath();
    var started = false;
    for (s = now - CHART_SECONDS + 1; s <= now; s++) {
      b = S.buckets.get(s);
      var v = b && b.streams != null ? b.streams : 0;
      var px = pad + (s - (now - CHART_SECONDS + 1)) * barW + barW / 2;
      var py = plotH - (v / maxStreams) * (plotH - 14);
      if (!started) { g.moveTo(px, py); started = true; } else g.lineTo(px, py);
    }
    g.stroke();
    g.fillStyle = css.getPropertyValue('--streams');
    g.fillText(maxStreams + ' streams', w - 70, 10);
  }

  /** @param {boolean} force */
  function render(force) {
    if (dirty || force) {
      dirty = false;
      renderCards();
      renderTotals('by-key', S.byKey);
      renderTotals('by-model', S.byModel);
      renderBudgets();
      renderRequests();
    }
    renderChart();
  }

  // ---- start -----------------------------------------------------------------------------
  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = $('login-key', HTMLInputElement);
    var key = input.value.trim();
    if (!key) return;
    input.value = '';
    signIn(key).catch(function () { showLogin('The proxy is not reachable.'); });
  });
  $('sign-out').addEventListener('click', function () {
    hadSession = false;
    fetch('/admin/session', { method: 'DELETE', credentials: 'same-origin' }).then(connect, connect);
  });
  try { sessionStorage.removeItem(LEGACY_KEY_STORE); localStorage.removeItem(LEGACY_KEY_STORE); } catch (e) { /* storage disabled */ }
  setInterval(function () { render(false); }, 250);
  render(true);
  connect();
})();
