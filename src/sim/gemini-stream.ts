/**
 * A simulated Gemini answer, streamed (`streamGenerateContent`) or whole (`generateContent`).
 *
 * Stream: one GenerateContentResponse per round — `{candidates:[{content:{role:'model',
 * parts}, index}], usageMetadata?, modelVersion, responseId}` — where a candidate's rounds are
 * its thought parts (`{text, thought:true}`, one token each, only with `includeThoughts`), then
 * its text parts (one token each) or, in one round, all its `functionCall` parts (Gemini sends
 * calls whole). Candidates advance together and each carries its own `index`; a candidate's last
 * round has its `finishReason`. `usageMetadata` is cumulative, and left out of odd intermediate
 * chunks (as Vertex leaves it out of some); the last chunk always has it. No `[DONE]`.
 * `alt=sse` frames each response as `data: <json>\n\n`; without it the body is one JSON array
 * sent piece by piece, as the API does. Pacing: `ttftMs` before the first chunk, `tokenDelayMs`
 * between rounds.
 */
import { outputTokens, thinkingSignature, thinkingText, type ChoicePlan } from './choice.js';
import type { Timing } from './generation.js';
import type { SimStep } from './reply.js';
import type { Json } from './request.js';
import { createTokenCursor } from './text.js';
import { planCursor, planString } from './text-plan.js';

/** A planned Gemini answer. */
export interface GeminiAnswer {
  responseId: string;
  model: string;
  promptTokens: number;
  timing: Timing;
  candidates: ChoicePlan[];
  /** thought parts are sent (`thinkingConfig.includeThoughts`) */
  includeThoughts: boolean;
  /** `maxOutputTokens` was set (what ended an uncut text → MAX_TOKENS) */
  explicitLimit: boolean;
}

/** The `finishReason` of a candidate: calls and stop sequences are a normal STOP. */
export function geminiFinish(a: GeminiAnswer, p: ChoicePlan): string {
  return p.calls.length === 0 && p.text.cut === null && a.explicitLimit ? 'MAX_TOKENS' : 'STOP';
}

/** Rounds of a candidate (at least one). */
export function geminiRounds(a: GeminiAnswer, p: ChoicePlan): number {
  const thoughts = a.includeThoughts ? p.thinking : 0;
  return Math.max(1, thoughts + (p.calls.length > 0 ? 1 : p.text.tokens));
}

function callParts(p: ChoicePlan): Json[] {
  // A thinking model signs its first call, so the caller can send the thought context back.
  return p.calls.map((c, j) => {
    const part: Json = { functionCall: { name: c.name, args: c.args } };
    if (j === 0 && p.thinking > 0) part.thoughtSignature = thinkingSignature(thinkingText(p));
    return part;
  });
}

/** The usage of the candidates so far (`sent[k]` output tokens, `thought[k]` thought tokens). */
function usage(a: GeminiAnswer, sent: number, thoughts: number): Json {
  const u: Json = { promptTokenCount: a.promptTokens, candidatesTokenCount: sent, totalTokenCount: a.promptTokens + sent + thoughts };
  if (thoughts > 0) u.thoughtsTokenCount = thoughts;
  u.promptTokensDetails = [{ modality: 'TEXT', tokenCount: a.promptTokens }];
  return u;
}

/** The whole answer (generateContent). */
export function geminiResponse(a: GeminiAnswer): Json {
  let sent = 0;
  let thoughts = 0;
  const candidates = a.candidates.map((p) => {
    sent += outputTokens(p) - p.thinking;
    thoughts += p.thinking;
    const parts: Json[] = [];
    if (a.includeThoughts && p.thinking > 0) parts.push({ text: thinkingText(p), thought: true });
    if (p.calls.length > 0) parts.push(...callParts(p));
    else parts.push({ text: planString(p.text) });
    return { content: { role: 'model', parts }, finishReason: geminiFinish(a, p), index: p.index };
  });
  return { candidates, usageMetadata: usage(a, sent, thoughts), modelVersion: a.model, responseId: a.responseId };
}

interface Round {
  parts: Json[];
  /** output (non-thought) tokens in it */
  tokens: number;
  thoughts: number;
}

function* candidateRounds(a: GeminiAnswer, p: ChoicePlan): Generator<Round, void, undefined> {
  let any = false;
  if (a.includeThoughts && p.thinking > 0) {
    const next = createTokenCursor(p.thinkingSeed);
    for (let i = 0; i < p.thinking; i++) yield { parts: [{ text: next(), thought: true }], tokens: 0, thoughts: 1 };
    any = true;
  }
  if (p.calls.length > 0) {
    yield { parts: callParts(p), tokens: outputTokens(p) - p.thinking, thoughts: 0 };
    return;
  }
  const next = planCursor(p.text);
  for (let i = 0; i < p.text.tokens; i++) yield { parts: [{ text: next() }], tokens: 1, thoughts: 0 };
  if (!any && p.text.tokens === 0) yield { parts: [{ text: '' }], tokens: 0, thoughts: 0 };
}

/** The frames of a streamed answer; `sse`: `alt=sse` framing, else a JSON array (see the module comment). */
export function* geminiFrames(a: GeminiAnswer, sse: boolean): Generator<SimStep, void, undefined> {
  if (a.timing.ttft > 0) yield a.timing.ttft;
  const rounds = a.candidates.map((p) => ({ p, it: candidateRounds(a, p), left: geminiRounds(a, p) }));
  let sent = 0;
  // Thoughts not shown still happened: they count from the first chunk.
  let thoughts = a.includeThoughts ? 0 : a.candidates.reduce((n, p) => n + p.thinking, 0);
  const total = Math.max(...rounds.map((r) => r.left));
  for (let r = 0; r < total; r++) {
    if (r > 0 && a.timing.delay > 0) yield a.timing.delay;
    const candidates: Json[] = [];
    for (const c of rounds) {
      const step = c.it.next();
      if (step.done) continue;
      sent += step.value.tokens;
      thoughts += step.value.thoughts;
      const cand: Json = { content: { role: 'model', parts: step.value.parts }, index: c.p.index };
      if (--c.left === 0) cand.finishReason = geminiFinish(a, c.p);
      candidates.push(cand);
    }
    const chunk: Json = { candidates };
    if (r % 2 === 0 || r === total - 1) chunk.usageMetadata = usage(a, sent, thoughts);
    chunk.modelVersion = a.model;
    chunk.responseId = a.responseId;
    const text = JSON.stringify(chunk);
    if (sse) yield 'data: ' + text + '\n\n';
    else yield (r === 0 ? '[' : ',\r\n') + text + (r === total - 1 ? ']' : '');
  }
}
