/**
 * One choice of an answer (an OpenAI choice, an Anthropic message, a Gemini candidate), decided
 * before anything is sent: thinking tokens, then either tool calls or text. The wire formats only
 * render a {@link ChoicePlan}; they share how it is made, so the same request reads the same in
 * every format (same text, same arguments, same token counts).
 *
 * - Choice `k` of a request with seed `s` uses seed `s` for k = 0 (so one choice is exactly
 *   `simText(n, s)`) and `s#k` after (`#k` with no seed): the choices differ, deterministically.
 * - Thinking text is `simText(thinking, 'thinking:' + seed)`.
 * - A choice that calls tools has no text.
 */
import { collect } from './generation.js';
import { fnv1a } from './text.js';
import { planText, type TextPlan } from './text-plan.js';
import { callTokens, planCalls, type SimTool, type SimToolCall } from './tools.js';

export interface ChoicePlan {
  index: number;
  /** thinking tokens, sent before anything else (0: none) */
  thinking: number;
  thinkingSeed: string;
  /** the text (0 tokens when the choice calls tools) */
  text: TextPlan;
  calls: SimToolCall[];
}

/** The text seed of choice `k` (see the module comment). */
export function choiceSeed(seed: string | undefined, k: number): string | undefined {
  return k === 0 ? seed : `${seed ?? ''}#${k}`;
}

export interface ChoiceInput {
  /** the request's seed */
  seed: string | undefined;
  /** text tokens when nothing stops them */
  n: number;
  stops?: readonly string[];
  thinking?: number;
  /** the tools to call (from `pickTools`); empty → text */
  tools?: readonly SimTool[];
}

/** Plan choice `index` of an answer. */
export function planChoice(index: number, input: ChoiceInput): ChoicePlan {
  const seed = choiceSeed(input.seed, index);
  const tools = input.tools ?? [];
  const calls = tools.length > 0 ? planCalls(tools, input.seed, index) : [];
  return {
    index,
    thinking: input.thinking ?? 0,
    thinkingSeed: 'thinking:' + (seed ?? ''),
    text: calls.length > 0 ? { seed, tokens: 0, cut: null } : planText(input.n, seed, input.stops),
    calls,
  };
}

/** Tokens the choice generates: thinking, text, and one per streamed argument piece. */
export function outputTokens(p: ChoicePlan): number {
  return p.thinking + p.text.tokens + callTokens(p.calls);
}

/** The thinking text, whole. */
export function thinkingText(p: ChoicePlan): string {
  return collect(p.thinking, p.thinkingSeed);
}

/**
 * An opaque signature of a thinking text (Anthropic's `signature`, Gemini's `thoughtSignature`):
 * base64, deterministic, different for different thoughts. Nothing checks it.
 */
export function thinkingSignature(thought: string): string {
  return Buffer.from(`sim-signature:${fnv1a(thought).toString(16)}:${thought.length}`).toString('base64');
}
