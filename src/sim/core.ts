/**
 * The simulator's one concept, shared by the fetch ({@link import('./handler.js')}) and node:http
 * ({@link import('./server.js')}) front ends: a request (method, path, body text) becomes a
 * {@link SimReply} — either a JSON body sent after a delay, or a generator of
 * {@link SimStep}s: strings are SSE frames to write as they come, numbers are milliseconds to wait
 * before the next step. No I/O: the front ends own waiting ({@link sleep}), backpressure and aborts.
 *
 * Behaviour (by URL path suffix; any prefix such as `/v1` is accepted; the query is ignored):
 * - `POST …/chat/completions`, `POST …/completions` (legacy), `POST …/responses`: stream or not.
 * - `POST …/embeddings`: deterministic unit-length vectors (`dimensions`, default 8), `float`
 *   or `base64` (little-endian float32, what the OpenAI SDK asks for by default).
 * - `GET …/models`, `GET …/models/{id}`: `sim-1` and `sim-fast`.
 * - anything else: 404 `Invalid URL (METHOD /path)`, OpenAI error shape; bad JSON → 400.
 *
 * Semantics:
 * - Any model name is accepted and echoed (the proxy may map aliases). `sim-fast` ignores the
 *   timing options (no time to first token, no inter-token delay).
 * - Completion length: `max_completion_tokens` ?? `max_tokens` (`max_output_tokens` for
 *   responses) ?? `defaultMaxTokens`. Exactly that many tokens are produced. `finish_reason` is
 *   `"length"` when the request set the limit (the limit is what stopped it), `"stop"` when the
 *   default length was used (the "natural" end). Responses: `status` `incomplete` /
 *   `completed` likewise.
 * - Text: `simText(n)`; when the request has a `seed` (number or string), `simText(n, String(seed))`.
 * - `prompt_tokens`: ceil(characters / 4) of all message / prompt / input texts, at least 1.
 *   `completion_tokens`: the number of tokens sent.
 * - Timing: wait `ttftMs`, send the first chunk(s), then `tokenDelayMs` before each further
 *   content chunk; the closing frames follow the last token at once. A non-streaming answer is
 *   sent after the same total, `ttftMs + (n - 1) * tokenDelayMs`; embeddings after `ttftMs`.
 * - `n`, `stop`, tools, temperature etc. are ignored (one choice, index 0).
 * - The `Authorization` header is ignored (the front ends never look at it).
 */
import type { SimOptions } from './options.js';
import { createTokenCursor, fnv1a, mulberry32 } from './text.js';

/** A string: one SSE frame to write; a number: milliseconds to wait before the next step. */
export type SimStep = string | number;

export interface SimJsonReply {
  kind: 'json';
  status: number;
  headers: Record<string, string>;
  body: string;
  /** wait this long (ms) before answering */
  delayMs: number;
}

export interface SimStreamReply {
  kind: 'stream';
  status: 200;
  headers: Record<string, string>;
  frames: Generator<SimStep, void, undefined>;
}

export type SimReply = SimJsonReply | SimStreamReply;

/** The models the simulator lists. */
export const SIM_MODELS = ['sim-1', 'sim-fast'] as const;
const MODEL_CREATED = 1_700_000_000;
const OWNER = 'llm-proxy-sim';
const FINGERPRINT = 'fp_sim';
const DEFAULT_EMBEDDING_DIMS = 8;
const MAX_EMBEDDING_DIMS = 4096;
/** Upper bound on a requested completion length (keeps a typo from streaming for hours). */
export const MAX_COMPLETION_TOKENS = 1_000_000;

// ---------------------------------------------------------------------------------------------
// small helpers

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

let idPrefix = '';
let idCounter = 0;
/** Unique-enough ids: a random per-process prefix (made on first use) and a counter. */
function nextId(): string {
  if (idPrefix === '') idPrefix = Math.floor(Math.random() * 0x7fffffff).toString(36).padStart(6, '0');
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return 'sim' + idPrefix + idCounter.toString(36);
}

const escapeCache = new Map<string, string>();
/** JSON string literal of a token; the vocabulary is small, so each is stringified once. */
function esc(token: string): string {
  let e = escapeCache.get(token);
  if (e === undefined) {
    e = JSON.stringify(token);
    if (escapeCache.size < 4096) escapeCache.set(token, e);
  }
  return e;
}

function jsonHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', 'x-request-id': 'req_' + nextId() };
}

function streamHeaders(): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-request-id': 'req_' + nextId(),
  };
}

function json(status: number, body: unknown, delayMs = 0): SimJsonReply {
  return { kind: 'json', status, headers: jsonHeaders(), body: JSON.stringify(body), delayMs };
}

/** An OpenAI-shaped error reply. */
export function simError(
  status: number,
  message: string,
  param: string | null = null,
  code: string | null = null,
  type = 'invalid_request_error',
): SimJsonReply {
  return json(status, { error: { message, type, param, code } });
}

/** Characters of a message `content` / `input` value: a string or an array of text parts. */
function textChars(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const p of v) {
      if (typeof p === 'string') n += p.length;
      else if (isObj(p)) {
        if (typeof p.text === 'string') n += p.text.length;
        else if (p.content !== undefined) n += textChars(p.content);
      }
    }
    return n;
  }
  return 0;
}

function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

interface Timing {
  ttft: number;
  delay: number;
}

function timingFor(model: string, opts: SimOptions): Timing {
  if (model === 'sim-fast') return { ttft: 0, delay: 0 };
  return { ttft: Math.max(0, opts.ttftMs), delay: Math.max(0, opts.tokenDelayMs) };
}

/** Total time a non-streaming answer of `n` tokens takes (the same as its stream). */
function totalDelay(t: Timing, n: number): number {
  return t.ttft + Math.max(0, n - 1) * t.delay;
}

interface Length {
  n: number;
  /** the request set the limit (→ finish_reason "length") */
  explicit: boolean;
}

function readLength(body: Json, names: readonly string[], opts: SimOptions): Length | SimJsonReply {
  for (const name of names) {
    const v = body[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      return simError(400, `Invalid '${name}': expected an integer of at least 1, got ${JSON.stringify(v)}.`, name, 'invalid_value');
    }
    if (v > MAX_COMPLETION_TOKENS) {
      return simError(400, `'${name}' is too large: ${v}. The simulator supports at most ${MAX_COMPLETION_TOKENS} completion tokens.`, name, 'invalid_value');
    }
    return { n: v, explicit: true };
  }
  return { n: Math.max(0, Math.floor(opts.defaultMaxTokens)), explicit: false };
}

function readSeed(body: Json): string | undefined {
  const s = body.seed;
  return typeof s === 'number' || typeof s === 'string' ? String(s) : undefined;
}

function readModel(body: Json): string | SimJsonReply {
  const m = body.model;
  if (typeof m !== 'string' || m === '') return simError(400, 'you must provide a model parameter', 'model', 'missing_required_parameter');
  return m;
}

/** `stream`, `stream_options.include_usage`, or an error when stream_options come without stream. */
function readStream(body: Json): { stream: boolean; includeUsage: boolean } | SimJsonReply {
  const stream = body.stream === true;
  const so = body.stream_options;
  if (so !== undefined && so !== null && !stream) {
    return simError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options', 'invalid_value');
  }
  return { stream, includeUsage: stream && isObj(so) && so.include_usage === true };
}

function chatUsage(prompt: number, completion: number): Json {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function collect(n: number, seed: string | undefined): string {
  const next = createTokenCursor(seed);
  let s = '';
  for (let i = 0; i < n; i++) s += next();
  return s;
}

// ---------------------------------------------------------------------------------------------
// chat completions

interface Gen {
  id: string;
  created: number;
  model: string;
  n: number;
  seed: string | undefined;
  finish: 'stop' | 'length';
  promptTokens: number;
  includeUsage: boolean;
  timing: Timing;
}

function* chatFrames(g: Gen): Generator<SimStep, void, undefined> {
  const head =
    'data: {"id":' + esc(g.id) + ',"object":"chat.completion.chunk","created":' + g.created +
    ',"model":' + JSON.stringify(g.model) + ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT +
    '","choices":[{"index":0,"delta":';
  const usageNull = g.includeUsage ? ',"usage":null' : '';
  const contentHead = head + '{"content":';
  const contentTail = '},"logprobs":null,"finish_reason":null}]' + usageNull + '}\n\n';
  if (g.timing.ttft > 0) yield g.timing.ttft;
  yield head + '{"role":"assistant","content":"","refusal":null}' + ',"logprobs":null,"finish_reason":null}]' + usageNull + '}\n\n';
  const next = createTokenCursor(g.seed);
  const delay = g.timing.delay;
  for (let i = 0; i < g.n; i++) {
    if (i > 0 && delay > 0) yield delay;
    yield contentHead + esc(next()) + contentTail;
  }
  yield head + '{},"logprobs":null,"finish_reason":"' + g.finish + '"}]' + usageNull + '}\n\n';
  if (g.includeUsage) {
    yield 'data: ' + JSON.stringify({
      id: g.id,
      object: 'chat.completion.chunk',
      created: g.created,
      model: g.model,
      service_tier: 'default',
      system_fingerprint: FINGERPRINT,
      choices: [],
      usage: chatUsage(g.promptTokens, g.n),
    }) + '\n\n';
  }
  yield 'data: [DONE]\n\n';
}

function chatCompletions(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  const messages = body.messages;
  if (!Array.isArray(messages)) return simError(400, "Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (messages.length === 0) return simError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.", 'messages', 'empty_array');
  const len = readLength(body, ['max_completion_tokens', 'max_tokens'], opts);
  if ('kind' in len) return len;
  const st = readStream(body);
  if ('kind' in st) return st;
  let chars = 0;
  for (const m of messages) if (isObj(m)) chars += textChars(m.content);
  const g: Gen = {
    id: 'chatcmpl-' + nextId(),
    created: Math.floor(Date.now() / 1000),
    model,
    n: len.n,
    seed: readSeed(body),
    finish: len.explicit ? 'length' : 'stop',
    promptTokens: estimateTokens(chars),
    includeUsage: st.includeUsage,
    timing: timingFor(model, opts),
  };
  if (st.stream) return { kind: 'stream', status: 200, headers: streamHeaders(), frames: chatFrames(g) };
  return json(200, {
    id: g.id,
    object: 'chat.completion',
    created: g.created,
    model: g.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: collect(g.n, g.seed), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: g.finish,
      },
    ],
    usage: chatUsage(g.promptTokens, g.n),
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  }, totalDelay(g.timing, g.n));
}

// ---------------------------------------------------------------------------------------------
// legacy completions

function* completionFrames(g: Gen): Generator<SimStep, void, undefined> {
  const usageNull = g.includeUsage ? ',"usage":null' : '';
  const tail = ',"model":' + JSON.stringify(g.model) + ',"system_fingerprint":"' + FINGERPRINT + '"' + usageNull + '}\n\n';
  const head = 'data: {"id":' + esc(g.id) + ',"object":"text_completion","created":' + g.created + ',"choices":[{"text":';
  const mid = ',"index":0,"logprobs":null,"finish_reason":null}]' + tail;
  if (g.timing.ttft > 0) yield g.timing.ttft;
  const next = createTokenCursor(g.seed);
  const delay = g.timing.delay;
  for (let i = 0; i < g.n; i++) {
    if (i > 0 && delay > 0) yield delay;
    yield head + esc(next()) + mid;
  }
  yield head + '"","index":0,"logprobs":null,"finish_reason":"' + g.finish + '"}]' + tail;
  if (g.includeUsage) {
    yield 'data: ' + JSON.stringify({
      id: g.id,
      object: 'text_completion',
      created: g.created,
      choices: [],
      model: g.model,
      system_fingerprint: FINGERPRINT,
      usage: { prompt_tokens: g.promptTokens, completion_tokens: g.n, total_tokens: g.promptTokens + g.n },
    }) + '\n\n';
  }
  yield 'data: [DONE]\n\n';
}

function promptChars(p: unknown): number {
  if (typeof p === 'string') return p.length;
  if (Array.isArray(p)) {
    let n = 0;
    for (const x of p) {
      if (typeof x === 'string') n += x.length;
      else if (typeof x === 'number') n += 4; // a token id counts as one token
      else if (Array.isArray(x)) n += 4 * x.length;
    }
    return n;
  }
  return 0;
}

function completions(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  if (body.prompt === undefined || body.prompt === null) return simError(400, "Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  const len = readLength(body, ['max_tokens'], opts);
  if ('kind' in len) return len;
  const st = readStream(body);
  if ('kind' in st) return st;
  const g: Gen = {
    id: 'cmpl-' + nextId(),
    created: Math.floor(Date.now() / 1000),
    model,
    n: len.n,
    seed: readSeed(body),
    finish: len.explicit ? 'length' : 'stop',
    promptTokens: estimateTokens(promptChars(body.prompt)),
    includeUsage: st.includeUsage,
    timing: timingFor(model, opts),
  };
  if (st.stream) return { kind: 'stream', status: 200, headers: streamHeaders(), frames: completionFrames(g) };
  return json(200, {
    id: g.id,
    object: 'text_completion',
    created: g.created,
    model: g.model,
    choices: [{ text: collect(g.n, g.seed), index: 0, logprobs: null, finish_reason: g.finish }],
    usage: { prompt_tokens: g.promptTokens, completion_tokens: g.n, total_tokens: g.promptTokens + g.n },
    system_fingerprint: FINGERPRINT,
  }, totalDelay(g.timing, g.n));
}

// ---------------------------------------------------------------------------------------------
// responses

function responseUsage(input: number, output: number): Json {
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

interface RespGen extends Gen {
  msgId: string;
  instructions: string | null;
  maxOutput: number | null;
}

function responseObject(g: RespGen, status: 'in_progress' | 'completed' | 'incomplete', text: string | null): Json {
  const done = status !== 'in_progress';
  return {
    id: g.id,
    object: 'response',
    created_at: g.created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: g.instructions,
    max_output_tokens: g.maxOutput,
    model: g.model,
    output: done ? [messageItem(g, text ?? '', 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done ? responseUsage(g.promptTokens, g.n) : null,
    metadata: {},
  };
}

function messageItem(g: RespGen, text: string, status: 'in_progress' | 'completed'): Json {
  return {
    id: g.msgId,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'completed' ? [{ type: 'output_text', text, annotations: [], logprobs: [] }] : [],
  };
}

function* responseFrames(g: RespGen): Generator<SimStep, void, undefined> {
  let seq = 0;
  const ev = (type: string, rest: Json): string =>
    'event: ' + type + '\ndata: ' + JSON.stringify({ type, sequence_number: seq++, ...rest }) + '\n\n';
  if (g.timing.ttft > 0) yield g.timing.ttft;
  yield ev('response.created', { response: responseObject(g, 'in_progress', null) });
  yield ev('response.in_progress', { response: responseObject(g, 'in_progress', null) });
  yield ev('response.output_item.added', { output_index: 0, item: messageItem(g, '', 'in_progress') });
  const part = { item_id: g.msgId, output_index: 0, content_index: 0 };
  yield ev('response.content_part.added', { ...part, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  const deltaHead = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":';
  const deltaMid = ',"item_id":' + esc(g.msgId) + ',"output_index":0,"content_index":0,"delta":';
  const next = createTokenCursor(g.seed);
  const delay = g.timing.delay;
  let text = '';
  for (let i = 0; i < g.n; i++) {
    if (i > 0 && delay > 0) yield delay;
    const t = next();
    text += t;
    yield deltaHead + seq++ + deltaMid + esc(t) + ',"logprobs":[]}\n\n';
  }
  yield ev('response.output_text.done', { ...part, text, logprobs: [] });
  yield ev('response.content_part.done', { ...part, part: { type: 'output_text', text, annotations: [], logprobs: [] } });
  yield ev('response.output_item.done', { output_index: 0, item: messageItem(g, text, 'completed') });
  const status = g.finish === 'length' ? 'incomplete' : 'completed';
  yield ev('response.' + status, { response: responseObject(g, status, text) });
}

function responses(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  if (body.input === undefined || body.input === null) return simError(400, "Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  const len = readLength(body, ['max_output_tokens'], opts);
  if ('kind' in len) return len;
  const stream = body.stream === true;
  const instructions = typeof body.instructions === 'string' ? body.instructions : null;
  const id = nextId();
  const g: RespGen = {
    id: 'resp_' + id,
    msgId: 'msg_' + id,
    created: Math.floor(Date.now() / 1000),
    model,
    n: len.n,
    seed: readSeed(body),
    finish: len.explicit ? 'length' : 'stop',
    promptTokens: estimateTokens(textChars(body.input) + (instructions?.length ?? 0)),
    includeUsage: false,
    timing: timingFor(model, opts),
    instructions,
    maxOutput: len.explicit ? len.n : null,
  };
  if (stream) return { kind: 'stream', status: 200, headers: streamHeaders(), frames: responseFrames(g) };
  const status = g.finish === 'length' ? 'incomplete' : 'completed';
  return json(200, responseObject(g, status, collect(g.n, g.seed)), totalDelay(g.timing, g.n));
}

// ---------------------------------------------------------------------------------------------
// embeddings

/** A deterministic unit-length vector for `key`. */
export function simEmbedding(key: string, dims: number): Float32Array {
  const rnd = mulberry32(fnv1a(key));
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const x = rnd() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

function embeddings(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  const input = body.input;
  let items: { key: string; tokens: number }[];
  if (typeof input === 'string') items = [{ key: input, tokens: estimateTokens(input.length) }];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')) {
    items = [{ key: input.join(','), tokens: input.length }];
  } else if (Array.isArray(input) && input.length > 0) {
    items = [];
    for (const x of input) {
      if (typeof x === 'string') items.push({ key: x, tokens: estimateTokens(x.length) });
      else if (Array.isArray(x) && x.every((t) => typeof t === 'number')) items.push({ key: x.join(','), tokens: Math.max(1, x.length) });
      else return simError(400, "Invalid 'input': expected a string, an array of strings, or token arrays.", 'input', 'invalid_type');
    }
  } else {
    return simError(400, "Invalid 'input': expected a non-empty string, an array of strings, or token arrays.", 'input', input === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  let dims = DEFAULT_EMBEDDING_DIMS;
  if (body.dimensions !== undefined && body.dimensions !== null) {
    const d = body.dimensions;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_EMBEDDING_DIMS) {
      return simError(400, `Invalid 'dimensions': expected an integer between 1 and ${MAX_EMBEDDING_DIMS}.`, 'dimensions', 'invalid_value');
    }
    dims = d;
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return simError(400, "Invalid 'encoding_format': expected 'float' or 'base64'.", 'encoding_format', 'invalid_value');
  }
  let tokens = 0;
  const data = items.map((it, index) => {
    tokens += it.tokens;
    const v = simEmbedding(it.key, dims);
    const embedding = format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
    return { object: 'embedding', index, embedding };
  });
  return json(200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } }, timingFor(model, opts).ttft);
}

// ---------------------------------------------------------------------------------------------
// models

function modelObject(id: string): Json {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: OWNER };
}

// ---------------------------------------------------------------------------------------------
// routing

/** The path without query / fragment / trailing slash. */
export function simPathOf(url: string): string {
  let start = 0;
  const scheme = url.indexOf('://');
  if (scheme >= 0) {
    start = url.indexOf('/', scheme + 3);
    if (start < 0) return '/';
  }
  let end = url.length;
  const q = url.indexOf('?', start);
  if (q >= 0) end = q;
  const h = url.indexOf('#', start);
  if (h >= 0 && h < end) end = h;
  let p = url.slice(start, end);
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p === '' ? '/' : p;
}

const MODEL_PATH = /\/models\/([^/]+)$/;

/**
 * Answer one request. `pathname` is the URL path (query already stripped, see {@link simPathOf});
 * `bodyText` the raw body ('' when none).
 */
export function simRoute(method: string, pathname: string, bodyText: string, opts: SimOptions): SimReply {
  const m = method.toUpperCase();
  if (m === 'GET') {
    if (pathname.endsWith('/models')) return json(200, { object: 'list', data: SIM_MODELS.map(modelObject) });
    const mm = MODEL_PATH.exec(pathname);
    if (mm) {
      let id = mm[1]!;
      try {
        id = decodeURIComponent(id);
      } catch {
        // keep it raw
      }
      if ((SIM_MODELS as readonly string[]).includes(id)) return json(200, modelObject(id));
      return simError(404, `The model '${id}' does not exist`, 'model', 'model_not_found');
    }
  } else if (m === 'POST') {
    let handler: ((body: Json, opts: SimOptions) => SimReply) | undefined;
    if (pathname.endsWith('/chat/completions')) handler = chatCompletions;
    else if (pathname.endsWith('/completions')) handler = completions;
    else if (pathname.endsWith('/embeddings')) handler = embeddings;
    else if (pathname.endsWith('/responses')) handler = responses;
    if (handler) {
      let body: unknown;
      try {
        body = JSON.parse(bodyText);
      } catch {
        return simError(400, 'We could not parse the JSON body of your request. (The simulator expects a JSON payload, but what was sent was not valid JSON.)');
      }
      if (!isObj(body)) return simError(400, 'The request body must be a JSON object.');
      return handler(body, opts);
    }
  }
  return simError(404, `Invalid URL (${m} ${pathname})`);
}

// ---------------------------------------------------------------------------------------------
// waiting (used by both front ends)

/**
 * Resolve after `ms`; reject with `signal.reason` as soon as `signal` aborts, clearing the timer
 * (so an aborted request leaves no timer behind).
 */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
