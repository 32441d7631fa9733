/**
 * The simulator's entry point, shared by the fetch ({@link import('./handler.js')}) and node:http
 * ({@link import('./server.js')}) front ends: a request (method, path, body text) becomes a
 * {@link SimReply} — either a JSON body sent after a delay, or a generator of
 * {@link SimStep}s: strings are SSE frames to write as they come, numbers are milliseconds to wait
 * before the next step. No I/O: the front ends own waiting (`sleep.ts`), backpressure and aborts.
 *
 * Behaviour of the OpenAI face (by URL path suffix; any prefix such as `/v1` is accepted; the
 * query is ignored):
 * - `POST …/chat/completions`, `POST …/completions` (legacy), `POST …/responses`: stream or not
 *   (`chat.ts`, `completions.ts`, `responses.ts`).
 * - `POST …/embeddings`: deterministic unit-length vectors (`dimensions`, default 8), `float`
 *   or `base64` (little-endian float32, what the OpenAI SDK asks for by default) (`embeddings.ts`).
 * - `GET …/models`, `GET …/models/{id}`: `sim-1` and `sim-fast` (`models.ts`).
 * - anything else: 404 `Invalid URL (METHOD /path)`, OpenAI error shape; bad JSON → 400.
 *
 * Two more faces, by the path's first segment, each in its provider's wire format and error shape:
 * - `/anthropic/…`: the Messages API (`anthropic.ts`), e.g. `POST /anthropic/v1/messages`.
 * - `/gemini/…`: the Gemini API (`gemini.ts`), e.g.
 *   `POST /gemini/v1beta/models/{model}:streamGenerateContent?alt=sse`.
 *
 * Semantics (the OpenAI face; the other two adapt them, see their files):
 * - Any model name is accepted and echoed (the proxy may map aliases). The `*-fast` models
 *   (`generation.ts` FAST_MODELS) ignore the timing options (no time to first token, no
 *   inter-token delay).
 * - Completion length: `max_completion_tokens` ?? `max_tokens` (`max_output_tokens` for
 *   responses) ?? `defaultMaxTokens`. Exactly that many tokens are produced. `finish_reason` is
 *   `"length"` when the request set the limit (the limit is what stopped it), `"stop"` when the
 *   default length was used (the "natural" end). Responses: `status` `incomplete` /
 *   `completed` likewise.
 * - Text: `simText(n)`; when the request has a `seed` (number or string), `simText(n, String(seed))`.
 * - Chat completions also honour `n` (choices with their own text, `choice.ts`), `stop` (the
 *   text is cut before the first stop sequence, `finish_reason` `"stop"`, `text-plan.ts`) and
 *   `tools` / `tool_choice` / `parallel_tool_calls` (`tools.ts` decides when a tool is called;
 *   arguments fit the tool's schema, `schema-value.ts`; `finish_reason` `"tool_calls"`).
 * - `prompt_tokens`: ceil(characters / 4) of all message / prompt / input texts (and tool
 *   definitions), at least 1. `completion_tokens`: the number of tokens sent (a tool call's
 *   arguments: one per streamed piece), summed over choices.
 * - Timing: wait `ttftMs`, send the first chunk(s), then `tokenDelayMs` before each further
 *   content chunk; the closing frames follow the last token at once. A non-streaming answer is
 *   sent after the same total, `ttftMs + (n - 1) * tokenDelayMs`; embeddings after `ttftMs`.
 * - Legacy completions and responses ignore `n`, `stop` and tools; temperature etc. are ignored.
 * - The `Authorization` header is ignored (the front ends never look at it).
 */
import { anthropicRoute } from './anthropic.js';
import { chatCompletions } from './chat.js';
import { completions } from './completions.js';
import { embeddings } from './embeddings.js';
import { geminiRoute } from './gemini.js';
import { getModel, listModels } from './models.js';
import type { SimOptions } from './options.js';
import { simError, type SimReply, type SimStep } from './reply.js';
import { isObj, type Json } from './request.js';
import { responses } from './responses.js';

/** The query of `url` (without `?` and fragment; '' when none). */
export function simQueryOf(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return '';
  const h = url.indexOf('#', q);
  return url.slice(q + 1, h < 0 ? url.length : h);
}

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

const FACE = /^\/(anthropic|gemini)(\/.*)?$/;

/**
 * Answer one request. `pathname` is the URL path (query already stripped, see {@link simPathOf});
 * `bodyText` the raw body ('' when none); `query` the query string ({@link simQueryOf}), which
 * only the Anthropic and Gemini faces read (paging, `alt=sse`).
 */
export function simRoute(method: string, pathname: string, bodyText: string, opts: SimOptions, query = ''): SimReply {
  const m = method.toUpperCase();
  const face = FACE.exec(pathname);
  if (face) {
    const route = face[1] === 'anthropic' ? anthropicRoute : geminiRoute;
    return route(m, face[2] ?? '/', bodyText, opts, new URLSearchParams(query));
  }
  if (m === 'GET') {
    if (pathname.endsWith('/models')) return listModels();
    const mm = MODEL_PATH.exec(pathname);
    if (mm) return getModel(mm[1]!);
  } else if (m === 'POST') {
    let handler: ((body: Json, opts: SimOptions) => SimReply) | undefined;
    // `/chat/completions` first: it also ends with `/completions`.
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
