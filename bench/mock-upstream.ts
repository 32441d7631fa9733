/**
 * A lean mock OpenAI upstream for the benchmark (the upstream must not be the
 * bottleneck). The built-in simulator (src/sim) builds every frame as a string and writes each
 * with `res.write` (four socket writes per frame inside node:http's chunked encoder): measured
 * ~0.55 ms of CPU per 256-token stream, close to what the raw pipe costs. This one speaks
 * HTTP/1.1 on a raw socket and writes precomputed bytes: one write per stream when there is no
 * token delay, one per token otherwise.
 *
 * The bytes on the wire are what the simulator sends for the same request (same frames, one
 * HTTP chunk per SSE frame, as real upstreams send them) except `id` and `created`, which are
 * fixed here. Text: simTokens(n) from src/sim/text.ts, so the load generator checks it against
 * simText(n).
 *
 *   node bench/.build/bench/mock-upstream.js --port N [--ttft-ms 0] [--token-delay-ms 0] [--tail-delay-ms 0]
 *
 * `--tail-delay-ms N` sends the end of the chunked body (`0\r\n\r\n`) N ms after `[DONE]`, as a
 * real upstream may: a client that stops reading at `[DONE]` and cancels then loses the pooled
 * connection. On SIGTERM it prints `connections accepted: N, requests: M` to stderr (reuse check).
 *
 * - `POST …/chat/completions`: `max_completion_tokens` ?? `max_tokens` ?? 16 tokens; `stream`,
 *   `stream_options.include_usage`. The model `sim-fast` ignores the delays (as in the simulator);
 *   a model `bench-delay-<N>ms` uses N ms for both instead of the flags (also in the Anthropic and
 *   Gemini formats, where the model name may have a prefix: `claude-bench-delay-1000ms`).
 * - `POST …/v1/messages` (Anthropic Messages API, for `type: anthropic` upstreams): `max_tokens`
 *   tokens (16 when absent); with `"stream": true` the events message_start, content_block_start
 *   (text), ping, one content_block_delta (text_delta) per token, content_block_stop, message_delta
 *   (stop_reason max_tokens, cumulative usage) and message_stop, each `event: <type>\ndata: <json>\n\n`
 *   in its own HTTP chunk; otherwise one Messages JSON answer.
 * - `POST …/models/{model}:streamGenerateContent?alt=sse` (Gemini, for `type: gemini` upstreams):
 *   `generationConfig.maxOutputTokens` tokens, one `data: <GenerateContentResponse>\n\n` per token
 *   (one text part, cumulative `usageMetadata` on every one, `finishReason: "MAX_TOKENS"` on the
 *   last; no `[DONE]`), one HTTP chunk each; `…:generateContent` gives one JSON answer. A model
 *   name containing `-crlf` gets CRLF line ends (`data: …\r\n\r\n`), the framing Google's API has
 *   been reported to use.
 *   The text of both is simTokens(n), the same as the OpenAI stream's, and so is the token count,
 *   so a load generator checks all three against simText(n) (bench/formats.ts).
 * - `GET …/models`: a small list (readiness probe). Anything else: 404.
 * - Request bodies need Content-Length (undici, node:http and the raw pipe all send it); a chunked
 *   request body gets 411.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { simTokens } from '../src/sim/text.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'ttft-ms': { type: 'string' }, 'token-delay-ms': { type: 'string' }, 'tail-delay-ms': { type: 'string' } },
});
const TAIL_DELAY_MS = Number(values['tail-delay-ms'] ?? 0);
let accepted = 0;
let requests = 0;
const PORT = Number(values.port ?? 8081);
const TTFT_MS = Number(values['ttft-ms'] ?? 0);
const TOKEN_DELAY_MS = Number(values['token-delay-ms'] ?? 0);
const DEFAULT_TOKENS = 16;
const MAX_TOKENS = 100_000;
const MAX_HEAD = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** One HTTP/1.1 chunk holding `text`. */
function chunk(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(body.length.toString(16) + CRLF, 'latin1'), body, Buffer.from(CRLF, 'latin1')]);
}

function head(status: string, headers: Record<string, string>): Buffer {
  let s = `HTTP/1.1 ${status}${CRLF}`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}${CRLF}`;
  return Buffer.from(s + CRLF, 'latin1');
}

const SSE_HEAD = head('200 OK', {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-request-id': 'req_mock',
  connection: 'keep-alive',
  'transfer-encoding': 'chunked',
});

function json(status: string, body: unknown): Buffer {
  const text = JSON.stringify(body);
  return Buffer.concat([
    head(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), connection: 'keep-alive' }),
    Buffer.from(text, 'utf8'),
  ]);
}

const error = (status: string, message: string): Buffer => json(status, { error: { message, type: 'invalid_request_error', param: null, code: null } });

/** A stream's bytes: `first` at TTFT (head, role frame, token 0), then `tokens[k]` per further token, `tail` with the last. */
interface StreamBytes {
  first: Buffer;
  tokens: Buffer[];
  tail: Buffer;
  /** Everything in one buffer, for streams without delay. */
  whole: Buffer;
}

const ID = 'chatcmpl-mock';
const CREATED = 1_700_000_000;
const cache = new Map<string, StreamBytes | Buffer>();

function cached<T extends StreamBytes | Buffer>(key: string, make: () => T): T {
  let v = cache.get(key) as T | undefined;
  if (v === undefined) {
    v = make();
    if (cache.size > 256) cache.clear(); // the benchmark uses a handful of shapes
    cache.set(key, v);
  }
  return v;
}

/** The simulator's chat.completion.chunk frames (src/sim/core.ts chatFrames), as HTTP chunks. */
function streamBytes(model: string, n: number, includeUsage: boolean): StreamBytes {
  const h = `data: {"id":"${ID}","object":"chat.completion.chunk","created":${CREATED},"model":${JSON.stringify(model)},` +
    '"service_tier":"default","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":';
  const usageNull = includeUsage ? ',"usage":null' : '';
  const tail = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`;
  const role = chunk(`${h}{"role":"assistant","content":"","refusal":null}${tail}`);
  const tokens = simTokens(n).map((t) => chunk(`${h}{"content":${JSON.stringify(t)}}${tail}`));
  const end: Buffer[] = [chunk(`${h}{},"logprobs":null,"finish_reason":"length"}]${usageNull}}\n\n`)];
  if (includeUsage) {
    const usage = {
      id: ID, object: 'chat.completion.chunk', created: CREATED, model, service_tier: 'default', system_fingerprint: 'fp_sim', choices: [],
      usage: { prompt_tokens: 7, completion_tokens: n, total_tokens: 7 + n },
    };
    end.push(chunk(`data: ${JSON.stringify(usage)}\n\n`));
  }
  end.push(chunk('data: [DONE]\n\n'), LAST_CHUNK);
  const first = Buffer.concat([SSE_HEAD, role, ...tokens.slice(0, 1)]);
  const rest = tokens.slice(1);
  return { first, tokens: rest, tail: Buffer.concat(end), whole: Buffer.concat([first, ...rest, ...end]) };
}

function completion(model: string, n: number): Buffer {
  return json('200 OK', {
    id: ID, object: 'chat.completion', created: CREATED, model,
    choices: [{ index: 0, message: { role: 'assistant', content: simTokens(n).join(''), refusal: null, annotations: [] }, logprobs: null, finish_reason: 'length' }],
    usage: { prompt_tokens: 7, completion_tokens: n, total_tokens: 7 + n },
    service_tier: 'default', system_fingerprint: 'fp_sim',
  });
}

// ---------------------------------------------------------------------------------------------
// Anthropic and Gemini wire formats (bench/formats.ts): the same text and token count as above.

/** `event: <type>\ndata: {"type":"<type>",…}\n\n` as one HTTP chunk (what the Messages API sends per event). */
function anthropicEvent(type: string, rest: Record<string, unknown>): Buffer {
  return chunk(`event: ${type}\ndata: ${JSON.stringify({ type, ...rest })}\n\n`);
}

/** A Messages API stream of `n` text tokens (Anthropic docs "Streaming messages"), one HTTP chunk per event. */
function anthropicStreamBytes(model: string, n: number): StreamBytes {
  const start = anthropicEvent('message_start', {
    message: {
      id: 'msg_mock', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  });
  const block = anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  const ping = anthropicEvent('ping', {});
  const head = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":';
  const tokens = simTokens(n).map((t) => chunk(`${head}${JSON.stringify(t)}}}\n\n`));
  const end = Buffer.concat([
    anthropicEvent('content_block_stop', { index: 0 }),
    anthropicEvent('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: n } }),
    anthropicEvent('message_stop', {}),
    LAST_CHUNK,
  ]);
  const first = Buffer.concat([SSE_HEAD, start, block, ping, ...tokens.slice(0, 1)]);
  const rest = tokens.slice(1);
  return { first, tokens: rest, tail: end, whole: Buffer.concat([first, ...rest, end]) };
}

function anthropicMessage(model: string, n: number): Buffer {
  return json('200 OK', {
    id: 'msg_mock', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: simTokens(n).join('') }],
    stop_reason: 'max_tokens', stop_sequence: null, usage: { input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: n },
  });
}

const geminiUsage = (k: number): Record<string, unknown> => ({
  promptTokenCount: 7, candidatesTokenCount: k, totalTokenCount: 7 + k, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 7 }],
});

/**
 * A `streamGenerateContent?alt=sse` body of `n` text tokens: one GenerateContentResponse per token
 * (Gemini sends what is new since the last), cumulative usage on each, the finish reason on the
 * last, no `[DONE]` (the body just ends). `eol`: LF, or CRLF for a `-crlf` model.
 */
function geminiStreamBytes(model: string, n: number, eol: string): StreamBytes {
  const texts = simTokens(n);
  const frames = texts.map((t, k) => {
    const cand: Record<string, unknown> = { content: { parts: [{ text: t }], role: 'model' } };
    if (k === n - 1) cand.finishReason = 'MAX_TOKENS';
    cand.index = 0;
    const body = { candidates: [cand], usageMetadata: geminiUsage(k + 1), modelVersion: model, responseId: 'mock-response' };
    return chunk(`data: ${JSON.stringify(body)}${eol}${eol}`);
  });
  const first = Buffer.concat([SSE_HEAD, ...frames.slice(0, 1)]);
  const rest = frames.slice(1);
  return { first, tokens: rest, tail: LAST_CHUNK, whole: Buffer.concat([first, ...rest, LAST_CHUNK]) };
}

function geminiResponse(model: string, n: number): Buffer {
  return json('200 OK', {
    candidates: [{ content: { parts: [{ text: simTokens(n).join('') }], role: 'model' }, finishReason: 'MAX_TOKENS', index: 0 }],
    usageMetadata: geminiUsage(n), modelVersion: model, responseId: 'mock-response',
  });
}

/** Delays of a model: `…bench-delay-<N>ms` sets both to N, else the flags. */
function delaysOf(model: string): { ttftMs: number; delayMs: number } {
  const own = /(?:^|-)bench-delay-(\d+)ms$/.exec(model);
  return own ? { ttftMs: Number(own[1]), delayMs: Number(own[1]) } : { ttftMs: TTFT_MS, delayMs: TOKEN_DELAY_MS };
}

const tokensOf = (asked: unknown): number => (Number.isInteger(asked) && (asked as number) > 0 ? Math.min(asked as number, MAX_TOKENS) : DEFAULT_TOKENS);

/** Anthropic (`…/v1/messages`) and Gemini (`…/models/{model}:…`) requests; null for anything else. */
function routeProvider(p: string, body: Buffer): Reply | null {
  const gemini = /\/models\/([^/:]+):(streamGenerateContent|generateContent)$/.exec(p);
  if (!gemini && !p.endsWith('/v1/messages')) return null;
  let req: { model?: unknown; max_tokens?: unknown; stream?: unknown; generationConfig?: { maxOutputTokens?: unknown } };
  try {
    req = JSON.parse(body.toString('utf8')) as typeof req;
  } catch {
    return { now: error('400 Bad Request', 'The request body is not JSON.') };
  }
  let model: string;
  let n: number;
  let s: StreamBytes;
  if (gemini) {
    model = decodeURIComponent(gemini[1]!);
    n = tokensOf(req.generationConfig?.maxOutputTokens);
    if (gemini[2] === 'generateContent') return { now: cached(`gemini-json|${model}|${n}`, () => geminiResponse(model, n)) };
    const eol = model.includes('-crlf') ? '\r\n' : '\n';
    s = cached(`gemini-sse|${model}|${n}`, () => geminiStreamBytes(model, n, eol));
  } else {
    model = typeof req.model === 'string' ? req.model : 'claude-mock';
    n = tokensOf(req.max_tokens);
    if (req.stream !== true) return { now: cached(`anthropic-json|${model}|${n}`, () => anthropicMessage(model, n)) };
    s = cached(`anthropic-sse|${model}|${n}`, () => anthropicStreamBytes(model, n));
  }
  const { ttftMs, delayMs } = delaysOf(model);
  return ttftMs <= 0 && delayMs <= 0 ? { now: s.whole } : { slow: s, ttftMs, delayMs };
}

const MODELS = json('200 OK', { object: 'list', data: [{ id: 'sim-fast', object: 'model', created: CREATED, owned_by: 'mock' }] });

/** Write a stream token by token: TTFT, then one token per delay; stops when the socket closes. */
function streamSlowly(socket: net.Socket, s: StreamBytes, ttftMs: number, delayMs: number, done: () => void): void {
  let k = 0;
  let timer: NodeJS.Timeout | undefined;
  const onClose = (): void => clearTimeout(timer);
  socket.once('close', onClose);
  const step = (): void => {
    if (socket.destroyed) return;
    if (k === 0) socket.write(s.first);
    else socket.write(s.tokens[k - 1]!);
    k++;
    if (k > s.tokens.length) {
      socket.write(s.tail);
      socket.off('close', onClose);
      done();
      return;
    }
    timer = setTimeout(step, delayMs);
  };
  timer = setTimeout(step, ttftMs);
}

type Reply = { now: Buffer } | { slow: StreamBytes; ttftMs: number; delayMs: number };

function route(method: string, path: string, body: Buffer): Reply {
  const p = path.split('?')[0]!;
  if (method === 'GET' && p.endsWith('/models')) return { now: MODELS };
  if (method === 'POST') {
    const provider = routeProvider(p, body);
    if (provider !== null) return provider;
  }
  if (method !== 'POST' || !p.endsWith('/chat/completions')) return { now: error('404 Not Found', `Invalid URL (${method} ${p})`) };
  let req: { model?: unknown; max_tokens?: unknown; max_completion_tokens?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
  try {
    req = JSON.parse(body.toString('utf8')) as typeof req;
  } catch {
    return { now: error('400 Bad Request', 'We could not parse the JSON body of your request.') };
  }
  const model = typeof req.model === 'string' ? req.model : 'sim-fast';
  const asked = req.max_completion_tokens ?? req.max_tokens;
  const n = Number.isInteger(asked) && (asked as number) > 0 ? Math.min(asked as number, MAX_TOKENS) : DEFAULT_TOKENS;
  if (req.stream !== true) return { now: cached(`json|${model}|${n}`, () => completion(model, n)) };
  const usage = req.stream_options?.include_usage === true;
  const s = cached(`sse|${model}|${n}|${usage}`, () => streamBytes(model, n, usage));
  const own = /^bench-delay-(\d+)ms$/.exec(model);
  const ttftMs = own ? Number(own[1]) : TTFT_MS;
  const delayMs = own ? Number(own[1]) : TOKEN_DELAY_MS;
  const fast = model === 'sim-fast' || (ttftMs <= 0 && delayMs <= 0);
  return fast ? { now: s.whole } : { slow: s, ttftMs, delayMs };
}

/** One connection: requests one after another (keep-alive); a response is written before the next request is read. */
function serve(socket: net.Socket): void {
  accepted++;
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let busy = false;
  const next = (): void => {
    while (!busy && !socket.destroyed) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_HEAD) socket.destroy();
        return;
      }
      const lines = buf.toString('latin1', 0, end).split(CRLF);
      const [method = '', path = ''] = lines[0]!.split(' ');
      let length = 0;
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        if (name === 'content-length') length = Number(line.slice(colon + 1).trim());
        else if (name === 'transfer-encoding') {
          socket.end(error('411 Length Required', 'The mock upstream needs Content-Length.'));
          return;
        }
      }
      if (!(length >= 0 && length <= MAX_BODY)) return void socket.destroy();
      if (buf.length < end + 4 + length) return; // body not all here yet
      const body = buf.subarray(end + 4, end + 4 + length);
      buf = buf.subarray(end + 4 + length);
      const reply = route(method, path, body);
      requests++;
      if ('now' in reply && TAIL_DELAY_MS > 0 && reply.now.subarray(-LAST_CHUNK.length).equals(LAST_CHUNK)) {
        socket.write(reply.now.subarray(0, -LAST_CHUNK.length));
        busy = true;
        setTimeout(() => {
          if (!socket.destroyed) socket.write(LAST_CHUNK);
          busy = false;
          next();
        }, TAIL_DELAY_MS);
      } else if ('now' in reply) {
        socket.write(reply.now);
      } else {
        busy = true;
        streamSlowly(socket, reply.slow, reply.ttftMs, reply.delayMs, () => {
          busy = false;
          next();
        });
      }
    }
  };
  socket.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    next();
  });
  socket.on('error', () => socket.destroy());
}

const server = net.createServer(serve);
server.listen({ port: PORT, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`mock upstream listening on http://127.0.0.1:${PORT}/v1 (ttft ${TTFT_MS} ms, ${TOKEN_DELAY_MS} ms/token)\n`);
});
process.on('SIGTERM', () => {
  process.stderr.write(`connections accepted: ${accepted}, requests: ${requests}\n`);
  process.exit(0);
});
