/**
 * `POST …/completions` (legacy): one choice of simulated text, streamed as `text_completion`
 * frames (one per token, a finish frame, the usage frame when `stream_options.include_usage`,
 * `[DONE]`) or answered whole. `prompt_tokens` estimates the prompt, string or token ids.
 */
import type { SimOptions } from './options.js';
import { collect, esc, FINGERPRINT, newGen, totalDelay, type Gen } from './generation.js';
import { json, nextId, simError, streamHeaders, type SimReply, type SimStep } from './reply.js';
import { estimateTokens, readLength, readModel, readStream, type Json } from './request.js';
import { createTokenCursor } from './text.js';

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

/** Characters of a `prompt`: strings as they are, a token id as 4 (so it estimates to one token). */
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

/** Answer a legacy completions request body. */
export function completions(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  if (body.prompt === undefined || body.prompt === null) return simError(400, "Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  const len = readLength(body, ['max_tokens'], opts);
  if ('kind' in len) return len;
  const st = readStream(body);
  if ('kind' in st) return st;
  const g = newGen('cmpl-' + nextId(), model, len, body, estimateTokens(promptChars(body.prompt)), st.includeUsage, opts);
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
