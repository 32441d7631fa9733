/**
 * `POST …/chat/completions`: `n` choices (default 1) of simulated text or tool calls, streamed
 * as `chat.completion.chunk` frames (`chat-stream.ts`) or answered whole as a `chat.completion`.
 * Tools follow the rule of `tools.ts`; `stop` cuts the text before the first stop sequence
 * (`finish_reason: "stop"`). `prompt_tokens` estimates the text of every message, the arguments
 * of earlier tool calls and the tool definitions; `completion_tokens` adds up every choice.
 */
import type { SimOptions } from './options.js';
import { chatFinish, chatFrames, chatSteps, chatUsage, type ChatAnswer } from './chat-stream.js';
import { chatToolContext, readChatTools, readChoiceCount, readStop } from './chat-tools.js';
import { outputTokens, planChoice, type ChoicePlan } from './choice.js';
import { FINGERPRINT, newGen, totalDelay } from './generation.js';
import { json, nextId, simError, streamHeaders, type SimReply } from './reply.js';
import { estimateTokens, isObj, readLength, readModel, readStream, textChars, type Json } from './request.js';
import { planString } from './text-plan.js';
import { pickTools } from './tools.js';

function promptChars(body: Json, messages: readonly unknown[]): number {
  let chars = 0;
  for (const m of messages) {
    if (!isObj(m)) continue;
    chars += textChars(m.content);
    if (Array.isArray(m.tool_calls)) chars += JSON.stringify(m.tool_calls).length;
  }
  if (Array.isArray(body.tools)) chars += JSON.stringify(body.tools).length;
  return chars;
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
  const n = readChoiceCount(body);
  if (typeof n !== 'number') return n;
  const stops = readStop(body);
  if (!Array.isArray(stops)) return stops;
  const ct = readChatTools(body);
  if ('kind' in ct) return ct;
  const gen = newGen('chatcmpl-' + nextId(), model, len, body, estimateTokens(promptChars(body, messages)), st.includeUsage, opts);
  const call = pickTools(ct.tools, ct.mode, chatToolContext(messages, ct.parallel));
  const choices = Array.from({ length: n }, (_, k) => planChoice(k, { seed: gen.seed, n: gen.n, stops, tools: call }));
  const a: ChatAnswer = { gen, choices, callIds: choices.map((p) => p.calls.map(() => 'call_' + nextId())) };
  if (st.stream) return { kind: 'stream', status: 200, headers: streamHeaders(), frames: chatFrames(a) };
  let completion = 0;
  for (const p of choices) completion += outputTokens(p);
  return json(200, {
    id: gen.id,
    object: 'chat.completion',
    created: gen.created,
    model: gen.model,
    choices: choices.map((p) => ({ index: p.index, message: chatMessage(a, p), logprobs: null, finish_reason: chatFinish(a, p) })),
    usage: chatUsage(gen.promptTokens, completion),
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  }, totalDelay(gen.timing, Math.max(...choices.map(chatSteps))));
}

function chatMessage(a: ChatAnswer, p: ChoicePlan): Json {
  if (p.calls.length === 0) return { role: 'assistant', content: planString(p.text), refusal: null, annotations: [] };
  const ids = a.callIds[p.index]!;
  return {
    role: 'assistant',
    content: null,
    tool_calls: p.calls.map((c, j) => ({ id: ids[j], type: 'function', function: { name: c.name, arguments: c.pieces.join('') } })),
    refusal: null,
    annotations: [],
  };
}
