// @ts-check
/**
 * The resumable stream example (src/examples/routes.ts serves it at /examples/resume).
 *
 * 1. Start: `POST /v1/chat/completions` with `x-stream-detach: true`. The proxy answers 202
 *    `{id, url, read_token?}` at once and generates the answer into the stream's replay log.
 *    The API key typed in the form (optional: keys may be off) goes with this one request and is
 *    kept nowhere else; the stream is read with its read token, which opens that stream only.
 * 2. Read: `new EventSource(url + '?token=…')`. Every frame carries `id: <stream id>:<seq>`; the
 *    page appends each chunk's `choices[0].delta.content` once, by seq: a frame whose seq it has
 *    already applied is counted and dropped (the proxy should never send one; this is defence).
 * 3. When the connection drops, the browser reconnects by itself after its retry delay, sending
 *    the last id as `Last-Event-ID`; the page shows the drop and the reconnection.
 * 4. "Cut connection" closes the EventSource and opens a new one. A new EventSource cannot be given
 *    a `Last-Event-ID`, so it asks with `?after=<last seq>` instead.
 * 5. `[DONE]` ends it ("complete"); an error frame (`{"error": …}`, for instance
 *    `stream_generation_lost` when the proxy instance generating it stopped) is shown and ends it.
 *
 * Text goes into the page through `textContent` only, and the CSP allows no inline script.
 */

/** @typedef {{ id: string, url: string, read_token?: string }} Started */
/** @typedef {{ message?: string, type?: string, code?: string | null }} ApiError */
/** @typedef {{ choices?: Array<{ delta?: { content?: string | null } }>, error?: ApiError }} Chunk */
/**
 * One stream being read.
 * @typedef {{
 *   started: Started,
 *   es: EventSource | null,
 *   lastSeq: number,
 *   frames: number,
 *   duplicates: number,
 *   auto: number,
 *   cuts: number,
 *   dropped: boolean,
 *   done: boolean,
 * }} Run
 */

/**
 * The element with this id, of the expected kind (the page and this script change together).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} [kind]
 * @returns {T}
 */
function $(id, kind) {
  const el = document.getElementById(id);
  if (!(el instanceof (kind || HTMLElement))) throw new Error('resume example: no element #' + id);
  return /** @type {T} */ (el);
}

const form = $('start-form', HTMLFormElement);
const promptEl = $('prompt', HTMLTextAreaElement);
const modelEl = $('model', HTMLInputElement);
const keyEl = $('key', HTMLInputElement);
const startBtn = $('start', HTMLButtonElement);
const cutBtn = $('cut', HTMLButtonElement);
const stateEl = $('state');
const answerEl = $('answer');
const errorEl = $('error');
const logEl = $('log', HTMLOListElement);

/** @type {Run | null} */
let run = null;

/**
 * @param {'idle' | 'starting' | 'streaming' | 'reconnecting' | 'complete' | 'error' | 'closed'} state
 * @param {string} [text]
 */
function setState(state, text) {
  stateEl.dataset.state = state;
  stateEl.textContent = text || state;
}

/** @param {string} text */
function log(text) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, ' ', text);
  logEl.append(li);
}

/** The counters of `r` (or none) on the page. */
function render() {
  const r = run;
  $('stream-id').textContent = r ? r.started.id : '–';
  $('last-seq').textContent = String(r ? r.lastSeq : 0);
  $('reconnects').textContent = String(r ? r.auto + r.cuts : 0);
  $('auto-reconnects').textContent = String(r ? r.auto : 0);
  $('manual-cuts').textContent = String(r ? r.cuts : 0);
  $('frames').textContent = String(r ? r.frames : 0);
  $('duplicates').textContent = String(r ? r.duplicates : 0);
}

/**
 * The seq in an event id `<stream id>:<seq>`, or null when the id is not one of this stream's.
 * @param {string} eventId
 * @param {string} streamId
 * @returns {number | null}
 */
function seqOf(eventId, streamId) {
  if (!eventId.startsWith(streamId + ':')) return null;
  const seq = Number(eventId.slice(streamId.length + 1));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

/**
 * Where to read `r`: after `after` (null: from the start, or from the browser's Last-Event-ID).
 * @param {Run} r
 * @param {number | null} after
 */
function readUrl(r, after) {
  const q = new URLSearchParams();
  if (after !== null) q.set('after', String(after));
  if (r.started.read_token) q.set('token', r.started.read_token);
  const query = q.toString();
  return r.started.url + (query ? '?' + query : '');
}

/**
 * The stream is over: close its EventSource, say how it ended.
 * @param {Run} r
 * @param {'complete' | 'error' | 'closed'} state
 * @param {string} [message]
 */
function finish(r, state, message) {
  r.done = true;
  r.es?.close();
  r.es = null;
  cutBtn.disabled = true;
  startBtn.disabled = false;
  if (message) errorEl.textContent = message;
  setState(state);
  log(state === 'complete' ? 'complete: [DONE] after seq ' + r.lastSeq : state + (message ? ': ' + message : ''));
  render();
}

/**
 * Open an EventSource on `r`, after `after` (see readUrl). Its events are ignored once it is not
 * the run's current one (cut, restarted).
 * @param {Run} r
 * @param {number | null} after
 */
function open(r, after) {
  const es = new EventSource(readUrl(r, after));
  r.es = es;
  const current = () => run === r && r.es === es && !r.done;
  es.addEventListener('open', () => {
    if (!current()) return;
    if (r.dropped) {
      r.dropped = false;
      r.auto++;
      log('the browser reconnected by itself (it sent Last-Event-ID ' + r.started.id + ':' + r.lastSeq + ')');
    } else {
      log(after === null ? 'reading from the start' : 'reading after seq ' + after + ' (?after=' + after + ')');
    }
    setState('streaming');
    render();
  });
  es.addEventListener('message', (ev) => {
    if (current()) onFrame(r, ev);
  });
  es.addEventListener('error', () => {
    if (!current()) return;
    if (es.readyState === EventSource.CONNECTING) {
      // The browser reconnects by itself after its retry delay, with Last-Event-ID.
      if (!r.dropped) log('connection lost after seq ' + r.lastSeq + '; the browser is reconnecting');
      r.dropped = true;
      setState('reconnecting');
    } else {
      // Closed for good: a 204 (nothing after Last-Event-ID), a 404 (expired, wrong key or token), an error status.
      finish(r, 'closed', 'The proxy closed the stream before its end (it expired, the token is not valid, or it was already read to its end).');
    }
  });
}

/**
 * One frame of the stream.
 * @param {Run} r
 * @param {MessageEvent<string>} ev
 */
function onFrame(r, ev) {
  const seq = seqOf(ev.lastEventId, r.started.id);
  if (ev.data === '[DONE]') {
    if (seq !== null && seq > r.lastSeq) r.lastSeq = seq;
    return finish(r, 'complete');
  }
  /** @type {Chunk} */
  let chunk;
  try {
    chunk = JSON.parse(ev.data);
  } catch {
    log('ignored a frame that is not JSON');
    return;
  }
  if (chunk.error) {
    // Error frames the replay reader adds (stream_generation_lost …) carry no id: the event's
    // lastEventId is still the previous frame's, so this is never taken for a duplicate.
    const e = chunk.error;
    if (seq !== null && seq > r.lastSeq) r.lastSeq = seq;
    return finish(r, 'error', (e.code ? e.code + ': ' : '') + (e.message || 'error'));
  }
  if (seq !== null && seq <= r.lastSeq) {
    r.duplicates++;
    render();
    return;
  }
  if (seq !== null) {
    if (seq !== r.lastSeq + 1) log('gap: seq ' + seq + ' after ' + r.lastSeq);
    r.lastSeq = seq;
  }
  r.frames++;
  const text = chunk.choices?.[0]?.delta?.content;
  if (typeof text === 'string' && text !== '') answerEl.append(text);
  render();
}

/** "Cut connection": close the EventSource and read on with a new one, after the last seq. */
function cut() {
  const r = run;
  if (!r || r.done) return;
  r.es?.close();
  r.cuts++;
  r.dropped = false;
  log('cut after seq ' + r.lastSeq + ': a new EventSource reads on with ?after=' + r.lastSeq);
  open(r, r.lastSeq);
  render();
}

/**
 * The error message of a refused start.
 * @param {Response} res
 */
async function refusal(res) {
  try {
    const body = /** @type {{ error?: ApiError }} */ (await res.json());
    if (body.error?.message) return res.status + ' ' + (body.error.code ? body.error.code + ': ' : '') + body.error.message;
  } catch { /* not JSON */ }
  return res.status + ' ' + res.statusText;
}

/** @param {SubmitEvent} ev */
async function start(ev) {
  ev.preventDefault();
  if (run) {
    run.done = true;
    run.es?.close();
  }
  run = null;
  answerEl.textContent = '';
  errorEl.textContent = '';
  logEl.textContent = '';
  render();
  startBtn.disabled = true;
  cutBtn.disabled = true;
  setState('starting');
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json', 'x-stream-detach': 'true' };
  const key = keyEl.value.trim();
  if (key) headers.authorization = 'Bearer ' + key;
  const body = { model: modelEl.value.trim(), stream: true, messages: [{ role: 'user', content: promptEl.value }] };
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
    if (res.status !== 202) throw new Error(await refusal(res));
    const started = /** @type {Started} */ (await res.json());
    const r = (run = { started, es: null, lastSeq: 0, frames: 0, duplicates: 0, auto: 0, cuts: 0, dropped: false, done: false });
    log('started stream ' + started.id + (started.read_token ? ' (read with its read token)' : ''));
    cutBtn.disabled = false;
    render();
    open(r, null);
  } catch (err) {
    startBtn.disabled = false;
    errorEl.textContent = err instanceof Error ? err.message : String(err);
    setState('error');
  }
}

form.addEventListener('submit', (ev) => void start(ev));
cutBtn.addEventListener('click', cut);
setState('idle');
render();
