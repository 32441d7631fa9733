/**
 * Reading Gemini's GenerateContentResponse (API reference "Generating content": `candidates[]`
 * with `content.parts[]`, `finishReason`, `index`; `promptFeedback`; `usageMetadata`;
 * `modelVersion`), shared by the stream translator (stream.ts), and the whole (non-streamed)
 * answer as a `chat.completion`. Pure.
 */
import { randomBytes } from 'node:crypto';
import { UpstreamError } from '../../errors.js';
import type { FinishReason } from '../chunks.js';
import type { AnswerContext } from '../types.js';
import { streamError } from './errors.js';
import { usageFrom } from './usage.js';

/** What one part of a candidate's content says, as far as an OpenAI message can carry it. */
export type PartOut =
  | { kind: 'text'; text: string }
  | { kind: 'thought'; text: string }
  | { kind: 'call'; name: string; args: Record<string, unknown>; id: string | undefined };

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A candidate's parts, in order. Text parts with `thought: true` are thought summaries ("Thinking":
 * `includeThoughts`); a `functionCall` always arrives whole, its `args` an object ("Function
 * calling"); an empty `id` counts as none. Parts carrying only a `thoughtSignature` (an opaque
 * token for replaying thoughts, which OpenAI's messages have no place for), and part kinds this
 * adapter never asks for (inline data, code execution), give nothing.
 */
export function readParts(candidate: Record<string, unknown>): PartOut[] {
  const content = candidate.content;
  const parts = isRecord(content) && Array.isArray(content.parts) ? (content.parts as unknown[]) : [];
  const out: PartOut[] = [];
  for (const p of parts) {
    if (!isRecord(p)) continue;
    if (typeof p.text === 'string' && p.text !== '') out.push(p.thought === true ? { kind: 'thought', text: p.text } : { kind: 'text', text: p.text });
    const fc = p.functionCall;
    if (isRecord(fc) && typeof fc.name === 'string') {
      const id = typeof fc.id === 'string' && fc.id !== '' ? fc.id : undefined;
      out.push({ kind: 'call', name: fc.name, args: isRecord(fc.args) ? fc.args : {}, id });
    }
  }
  return out;
}

/**
 * A candidate's choice index. `index` is an integer field, which proto3's JSON mapping leaves out
 * when it is 0: a missing one is 0, wherever the candidate stands in the list (a stream's event
 * may carry only the candidates that have something new).
 */
export function candidateIndex(candidate: Record<string, unknown>): number {
  const i = candidate.index;
  return typeof i === 'number' && Number.isInteger(i) && i >= 0 ? i : 0;
}

/** A finish reason that says the candidate is done (UNSPECIFIED is "default value, unused"). */
export function finishOf(candidate: Record<string, unknown>): string | null {
  const r = candidate.finishReason;
  return typeof r === 'string' && r !== '' && r !== 'FINISH_REASON_UNSPECIFIED' ? r : null;
}

/** Finish reasons that mean Gemini withheld or cut output ("FinishReason": safety, recitation, blocklists, PII). */
const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/**
 * Gemini's `finishReason` as OpenAI's. STOP is also how Gemini ends a turn of function calls, so it
 * is `tool_calls` when the candidate made any. MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
 * LANGUAGE, OTHER and reasons added later have no OpenAI counterpart: `stop`, the candidate's text
 * (if any) as it stands.
 */
export function openAIFinish(reason: string, madeCalls: boolean): FinishReason {
  if (reason === 'STOP') return madeCalls ? 'tool_calls' : 'stop';
  if (reason === 'MAX_TOKENS') return 'length';
  return FILTERED.has(reason) ? 'content_filter' : 'stop';
}

/** A prompt Gemini refused to answer: no candidates, `promptFeedback.blockReason` set. */
export function promptBlocked(response: Record<string, unknown>): boolean {
  const candidates = response.candidates;
  if (Array.isArray(candidates) && candidates.length > 0) return false;
  const fb = response.promptFeedback;
  return isRecord(fb) && typeof fb.blockReason === 'string' && fb.blockReason !== '' && fb.blockReason !== 'BLOCK_REASON_UNSPECIFIED';
}

/**
 * A tool call id for a function call Gemini gave none (its `id` is optional): `call_` and random
 * hex, the shape OpenAI's ids have, unique enough to pair the tool result with its call.
 */
export function newCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/** The model Gemini names in its answer, if any. */
export function modelVersion(response: Record<string, unknown>): string | undefined {
  const v = response.modelVersion;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * A whole `generateContent` answer as a `chat.completion`: one choice per candidate, its text
 * parts joined as `content` (null when none), thought parts as `reasoning_content`, function calls
 * as `tool_calls`. A blocked prompt is one choice with no content and `content_filter`. Throws the
 * mapped error for an error body, and a 502 for a body that is not a response at all.
 */
export function chatResponse(body: unknown, ctx: AnswerContext): Record<string, unknown> {
  if (!isRecord(body)) throw new UpstreamError('The Gemini upstream answered with a body that is not a GenerateContentResponse.', { code: 'upstream_invalid_response' });
  if (isRecord(body.error)) throw streamError(body);
  const raw = Array.isArray(body.candidates) ? (body.candidates as unknown[]) : [];
  const choices: Array<{ index: number; choice: Record<string, unknown> }> = [];
  for (const c of raw) {
    if (!isRecord(c)) continue;
    const index = candidateIndex(c);
    let content: string | null = null;
    let reasoning: string | null = null;
    const calls: Array<Record<string, unknown>> = [];
    for (const part of readParts(c)) {
      if (part.kind === 'text') content = (content ?? '') + part.text;
      else if (part.kind === 'thought') reasoning = (reasoning ?? '') + part.text;
      else calls.push({ id: part.id ?? newCallId(), type: 'function', function: { name: part.name, arguments: JSON.stringify(part.args) } });
    }
    const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
    if (reasoning !== null) message.reasoning_content = reasoning;
    if (calls.length > 0) message.tool_calls = calls;
    const finish = finishOf(c);
    // An answer without a finish reason is not one Gemini sends whole; `stop` is the least surprising.
    const finish_reason = finish === null ? 'stop' : openAIFinish(finish, calls.length > 0);
    choices.push({ index, choice: { index, message, logprobs: null, finish_reason } });
  }
  if (choices.length === 0) {
    const finish_reason: FinishReason = promptBlocked(body) ? 'content_filter' : 'stop';
    choices.push({ index: 0, choice: { index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason } });
  }
  choices.sort((a, b) => a.index - b.index);
  const completion: Record<string, unknown> = {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: modelVersion(body) ?? ctx.model,
    choices: choices.map((c) => c.choice),
  };
  const usage = usageFrom(body.usageMetadata);
  if (usage !== null) completion.usage = usage;
  return completion;
}

/**
 * The model ids in a `models.list` answer (`{models: [{name: "models/gemini-2.0-flash",
 * supportedGenerationMethods}]}`): without the `models/` prefix, only those that answer
 * `generateContent` (embedding and other models do not).
 */
export function parseModels(body: unknown): string[] {
  if (!isRecord(body) || !Array.isArray(body.models)) return [];
  const ids: string[] = [];
  for (const m of body.models as unknown[]) {
    if (!isRecord(m) || typeof m.name !== 'string') continue;
    const methods = m.supportedGenerationMethods;
    if (!Array.isArray(methods) || !methods.includes('generateContent')) continue;
    const id = m.name.startsWith('models/') ? m.name.slice('models/'.length) : m.name;
    if (id !== '') ids.push(id);
  }
  return ids;
}
