/**
 * Reading usage and countable text out of upstream payloads (test/unit/usage.test.ts). Pure and total: any JSON
 * value goes in, nothing throws — `{"choices":[],"usage":null}` is an ordinary chunk (OpenAI sends
 * one per content chunk when usage is requested), and odd servers send stranger things.
 *
 * "Countable text" is what the upstream bills as completion: message content, reasoning
 * (`reasoning_content` / `reasoning`: billed as completion tokens by OpenAI and DeepSeek alike),
 * refusals, tool-call names and argument fragments, legacy `function_call`, and `/v1/completions`
 * `text`. It is only tokenised when the upstream gives no usage.
 */

/** Token counts as the upstream reported them. */
export interface Usage {
  prompt: number;
  completion: number;
  /**
   * Prompt tokens served from the upstream's prompt cache, a part of `prompt` (billed at the
   * price's `cachedPrompt`, src/limits/budget-math.ts); 0 when the upstream does not say.
   */
  cachedPrompt: number;
}

/** What one parsed stream event tells the relay and the usage tracker. */
export interface ChunkObservation {
  /** The chunk's `usage`, when it carries one (OpenAI: only the last, `choices: []` chunk). */
  usage: Usage | null;
  /** Countable text in this chunk, all choices concatenated; `''` for none. */
  content: string;
  /** The first non-null `finish_reason` among the choices (responses API: the final `status`). */
  finishReason: string | null;
  /** The chunk carries usage and nothing else: the relay drops it when the caller did not ask. */
  usageOnly: boolean;
}

const NOTHING: ChunkObservation = Object.freeze({ usage: null, content: '', finishReason: null, usageOnly: false });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * A `usage` object: chat/completions/embeddings name the fields `prompt_tokens` /
 * `completion_tokens` (embeddings has no completion: 0); the responses API `input_tokens` /
 * `output_tokens`. Null when neither count is present.
 */
export function readUsage(u: unknown): Usage | null {
  if (!isObject(u)) return null;
  const prompt = isCount(u.prompt_tokens) ? u.prompt_tokens : isCount(u.input_tokens) ? u.input_tokens : null;
  const completion = isCount(u.completion_tokens) ? u.completion_tokens : isCount(u.output_tokens) ? u.output_tokens : null;
  if (prompt === null && completion === null) return null;
  // Two property reads when the upstream sends no details (many do not): the common case pays
  // nothing more. Chat names them `prompt_tokens_details`, the responses API `input_tokens_details`.
  const details = u.prompt_tokens_details !== undefined ? u.prompt_tokens_details : u.input_tokens_details;
  const cached = details === undefined ? 0 : cachedIn(details, prompt ?? 0);
  return { prompt: prompt ?? 0, completion: completion ?? 0, cachedPrompt: cached };
}

/**
 * `cached_tokens` of a details object, at most the prompt: a cached count above the prompt (an
 * odd server) must not price the prompt below zero (test/unit/usage.test.ts).
 */
function cachedIn(details: unknown, prompt: number): number {
  if (!isObject(details) || !isCount(details.cached_tokens)) return 0;
  return Math.min(details.cached_tokens, prompt);
}

/** Text fields of a chat `delta` or `message` (same shape), appended to `acc`. */
function messageText(m: Record<string, unknown>, acc: string): string {
  if (typeof m.content === 'string') acc += m.content;
  else if (Array.isArray(m.content)) for (const p of m.content) if (isObject(p) && typeof p.text === 'string') acc += p.text;
  if (typeof m.reasoning_content === 'string') acc += m.reasoning_content;
  if (typeof m.reasoning === 'string') acc += m.reasoning;
  if (typeof m.refusal === 'string') acc += m.refusal;
  if (Array.isArray(m.tool_calls)) for (const tc of m.tool_calls) if (isObject(tc)) acc = callText(tc.function, acc);
  if (m.function_call !== undefined) acc = callText(m.function_call, acc);
  return acc;
}

function callText(fn: unknown, acc: string): string {
  if (!isObject(fn)) return acc;
  if (typeof fn.name === 'string') acc += fn.name;
  if (typeof fn.arguments === 'string') acc += fn.arguments;
  return acc;
}

/** Responses-API stream events whose `delta` is billed text (not `response.audio.delta`: base64). */
export const RESPONSES_TEXT_DELTAS: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.audio.transcript.delta',
]);

/** Responses-API events: text deltas, and the final event whose `response.usage` counts. */
function inspectResponsesEvent(c: Record<string, unknown>, type: string): ChunkObservation {
  if (RESPONSES_TEXT_DELTAS.has(type)) {
    return typeof c.delta === 'string' && c.delta !== '' ? { usage: null, content: c.delta, finishReason: null, usageOnly: false } : NOTHING;
  }
  if ((type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') && isObject(c.response)) {
    const status = typeof c.response.status === 'string' ? c.response.status : null;
    return { usage: readUsage(c.response.usage), content: '', finishReason: status, usageOnly: false };
  }
  return NOTHING;
}

/**
 * Inspect one parsed stream payload: a `chat.completion.chunk`, a `/v1/completions` chunk or a
 * responses-API event. Cheap: no allocation beyond the result for the common one-choice chunk.
 */
export function inspectChunk(parsed: unknown): ChunkObservation {
  if (!isObject(parsed)) return NOTHING;
  const choices = parsed.choices;
  if (Array.isArray(choices)) {
    const usage = readUsage(parsed.usage);
    if (choices.length === 0) return usage === null ? NOTHING : { usage, content: '', finishReason: null, usageOnly: true };
    let content = '';
    let finishReason: string | null = null;
    for (const ch of choices) {
      if (!isObject(ch)) continue;
      if (isObject(ch.delta)) content = messageText(ch.delta, content);
      if (typeof ch.text === 'string') content += ch.text;
      if (finishReason === null && typeof ch.finish_reason === 'string') finishReason = ch.finish_reason;
    }
    return { usage, content, finishReason, usageOnly: false };
  }
  if (typeof parsed.type === 'string') return inspectResponsesEvent(parsed, parsed.type);
  // No `choices` at all but a usage (seen from some OpenAI-compatible servers): usage only too.
  const usage = readUsage(parsed.usage);
  return usage === null ? NOTHING : { usage, content: '', finishReason: null, usageOnly: true };
}

/**
 * Usage of a non-stream response body: chat and `/v1/completions` (`prompt_tokens` /
 * `completion_tokens`), responses (`input_tokens` / `output_tokens`), embeddings (`prompt_tokens`,
 * completion 0), with the cached prompt tokens when given. Null when the body has none.
 */
export function usageFromBody(parsed: unknown): Usage | null {
  return isObject(parsed) ? readUsage(parsed.usage) : null;
}

/** Countable completion text of a non-stream body (chat, completions, responses); `''` if none. */
export function contentFromBody(parsed: unknown): string {
  if (!isObject(parsed)) return '';
  let text = '';
  if (Array.isArray(parsed.choices)) {
    for (const ch of parsed.choices) {
      if (!isObject(ch)) continue;
      if (isObject(ch.message)) text = messageText(ch.message, text);
      if (typeof ch.text === 'string') text += ch.text;
    }
  }
  if (Array.isArray(parsed.output)) for (const item of parsed.output) if (isObject(item)) text = responsesItemText(item, text);
  return text;
}

/** A responses-API output item: message parts, function call, reasoning summary/content. */
function responsesItemText(item: Record<string, unknown>, acc: string): string {
  acc = callText(item, acc); // `function_call` items carry `name` and `arguments` at top level
  for (const list of [item.content, item.summary]) {
    if (!Array.isArray(list)) continue;
    for (const p of list) {
      if (!isObject(p)) continue;
      if (typeof p.text === 'string') acc += p.text;
      else if (typeof p.refusal === 'string') acc += p.refusal;
    }
  }
  return acc;
}
