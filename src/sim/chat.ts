/**
 * `POST …/chat/completions`: one choice of simulated text, streamed as `chat.completion.chunk`
 * frames (a role chunk, one chunk per token, a finish chunk, the usage chunk when
 * `stream_options.include_usage`, `[DONE]`) or answered whole as a `chat.completion`.
 * `prompt_tokens` estimates the text of every message.
 */
import type { SimOptions } from './options.js';
import { collect, esc, FINGERPRINT, newGen, totalDelay, type Gen } from './generation.js';
import { json, nextId, simError, streamHeaders, type SimReply, type SimStep } from './reply.js';
import { estimateTokens, isObj, readLength, readModel, readStream, textChars, type Json } from './request.js';
import { createTokenCursor } from './text.js';

function chatUsage(prompt: number, completion: number): Json {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
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

/** Answer a chat completions request body. */
export function chatCompletions(body: Json, opts: SimOptions): SimReply {
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
  const g = newGen('chatcmpl-' + nextId(), model, len, body, estimateTokens(chars), st.includeUsage, opts);
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
