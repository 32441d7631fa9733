/**
 * The event stream of a simulated Anthropic message, as the Messages API sends it:
 * `message_start` (usage with `output_tokens: 1`), then each content block — a thinking block
 * (`thinking_delta`s, then a `signature_delta`), a text block (`text_delta`s) or `tool_use`
 * blocks (an empty `input_json_delta` first, as the API does, then the input JSON in pieces) —
 * as `content_block_start` / deltas / `content_block_stop`, with a `ping` after the first block
 * starts; then `message_delta` (stop reason, cumulative `output_tokens`) and `message_stop`.
 * Every frame is `event: <type>\ndata: <json>\n\n`. Pacing: `ttftMs` before `message_start`,
 * `tokenDelayMs` before each token delta after the first.
 */
import { outputTokens, thinkingSignature, type ChoicePlan } from './choice.js';
import { createTokenCursor } from './text.js';
import { esc, type Timing } from './generation.js';
import type { SimStep } from './reply.js';
import { planCursor } from './text-plan.js';

/** A planned Anthropic answer. */
export interface AnthropicAnswer {
  id: string;
  model: string;
  inputTokens: number;
  timing: Timing;
  plan: ChoicePlan;
  stopReason: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';
  stopSequence: string | null;
  /** the `toolu_…` id of each call */
  toolIds: string[];
}

/** Whether the answer has a text block: when it calls no tools and has text, or has nothing else. */
export function hasTextBlock(a: AnthropicAnswer): boolean {
  return a.plan.calls.length === 0 && (a.plan.text.tokens > 0 || a.plan.thinking === 0);
}

function ev(type: string, data: Record<string, unknown>): string {
  return 'event: ' + type + '\ndata: ' + JSON.stringify({ type, ...data }) + '\n\n';
}

/** The SSE frames of a streamed answer (see the module comment). */
export function* anthropicFrames(a: AnthropicAnswer): Generator<SimStep, void, undefined> {
  const p = a.plan;
  const delay = a.timing.delay;
  let index = 0;
  let tokens = 0;
  // Before every token delta but the message's first.
  const pace = function* (): Generator<SimStep, void, undefined> {
    if (tokens++ > 0 && delay > 0) yield delay;
  };
  const start = function* (block: Record<string, unknown>): Generator<SimStep, void, undefined> {
    yield ev('content_block_start', { index, content_block: block });
    if (index === 0) yield ev('ping', {});
  };
  const deltaHead = (): string => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + index + ',"delta":{"type":';

  if (a.timing.ttft > 0) yield a.timing.ttft;
  yield ev('message_start', {
    message: {
      id: a.id,
      type: 'message',
      role: 'assistant',
      model: a.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: a.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  });
  if (p.thinking > 0) {
    yield* start({ type: 'thinking', thinking: '', signature: '' });
    const head = deltaHead() + '"thinking_delta","thinking":';
    const next = createTokenCursor(p.thinkingSeed);
    let thought = '';
    for (let i = 0; i < p.thinking; i++) {
      yield* pace();
      const t = next();
      thought += t;
      yield head + esc(t) + '}}\n\n';
    }
    yield ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: thinkingSignature(thought) } });
    yield ev('content_block_stop', { index: index++ });
  }
  if (hasTextBlock(a)) {
    yield* start({ type: 'text', text: '' });
    const head = deltaHead() + '"text_delta","text":';
    const next = planCursor(p.text);
    for (let i = 0; i < p.text.tokens; i++) {
      yield* pace();
      yield head + esc(next()) + '}}\n\n';
    }
    yield ev('content_block_stop', { index: index++ });
  }
  for (let j = 0; j < p.calls.length; j++) {
    const c = p.calls[j]!;
    yield* start({ type: 'tool_use', id: a.toolIds[j], name: c.name, input: {} });
    const head = deltaHead() + '"input_json_delta","partial_json":';
    yield head + '""}}\n\n';
    for (const piece of c.pieces) {
      yield* pace();
      yield head + JSON.stringify(piece) + '}}\n\n';
    }
    yield ev('content_block_stop', { index: index++ });
  }
  if (index === 0) yield ev('ping', {});
  yield ev('message_delta', { delta: { stop_reason: a.stopReason, stop_sequence: a.stopSequence }, usage: { output_tokens: outputTokens(p) } });
  yield ev('message_stop', {});
}
