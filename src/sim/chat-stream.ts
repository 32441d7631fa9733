/**
 * The `chat.completion.chunk` stream of a chat answer. Each choice is a sequence of rounds: round
 * 0 is its role chunk and its first token (or its first tool call's header and first argument
 * piece), each further round one token or piece; a choice's finish chunk follows its last round.
 * The choices advance together: round r of every choice, then `tokenDelayMs`, then round r + 1,
 * so `n` choices take as long as one. Then the usage chunk (`stream_options.include_usage`) and
 * `[DONE]`. Frames are built from pre-joined strings (this is the benchmark's hot path).
 */
import { outputTokens, type ChoicePlan } from './choice.js';
import { esc, FINGERPRINT, type Gen } from './generation.js';
import type { SimStep } from './reply.js';
import type { Json } from './request.js';
import { planCursor } from './text-plan.js';

/** A planned chat answer. */
export interface ChatAnswer {
  gen: Gen;
  choices: ChoicePlan[];
  /** `callIds[choice][call]`: the `call_…` id of each tool call */
  callIds: string[][];
}

/** The usage object of a chat answer. */
export function chatUsage(prompt: number, completion: number): Json {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** How choice `p` ended: `tool_calls`, `stop` (a stop sequence), else the length rule's. */
export function chatFinish(a: ChatAnswer, p: ChoicePlan): string {
  if (p.calls.length > 0) return 'tool_calls';
  if (p.text.cut !== null) return 'stop';
  return a.gen.finish;
}

/** Rounds of a choice: one per text token or argument piece (at least the role round). */
export function chatSteps(p: ChoicePlan): number {
  let n = p.text.tokens;
  for (const c of p.calls) n += c.pieces.length;
  return n;
}

/** End of a round in a choice's frames. */
const ROUND = null;

/** One choice's frames, `ROUND` between rounds; the finish chunk closes its last round. */
function* choiceFrames(a: ChatAnswer, p: ChoicePlan, head: string, tail: string): Generator<string | typeof ROUND, void, undefined> {
  const contentHead = head + '{"content":';
  const contentTail = '}' + tail;
  if (p.calls.length === 0) {
    yield head + '{"role":"assistant","content":"","refusal":null}' + tail;
    const next = planCursor(p.text);
    for (let i = 0; i < p.text.tokens; i++) {
      if (i > 0) yield ROUND;
      yield contentHead + esc(next()) + contentTail;
    }
  } else {
    const ids = a.callIds[p.index]!;
    let first = true;
    for (let j = 0; j < p.calls.length; j++) {
      const c = p.calls[j]!;
      const call = '{"index":' + j + ',"id":' + esc(ids[j]!) + ',"type":"function","function":{"name":' + JSON.stringify(c.name) + ',"arguments":""}}';
      if (!first) yield ROUND;
      yield j === 0
        ? head + '{"role":"assistant","content":null,"tool_calls":[' + call + '],"refusal":null}' + tail
        : head + '{"tool_calls":[' + call + ']}' + tail;
      const pieceHead = head + '{"tool_calls":[{"index":' + j + ',"function":{"arguments":';
      for (let i = 0; i < c.pieces.length; i++) {
        if (i > 0) yield ROUND;
        yield pieceHead + JSON.stringify(c.pieces[i]) + '}}]}' + tail;
      }
      first = false;
    }
  }
  yield head + '{},"logprobs":null,"finish_reason":"' + chatFinish(a, p) + '"}]' + tail.slice(tail.indexOf(']') + 1);
}

/** The SSE frames of a streamed chat answer (see the module comment). */
export function* chatFrames(a: ChatAnswer): Generator<SimStep, void, undefined> {
  const g = a.gen;
  const prefix =
    'data: {"id":' + esc(g.id) + ',"object":"chat.completion.chunk","created":' + g.created +
    ',"model":' + JSON.stringify(g.model) + ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT +
    '","choices":[{"index":';
  const tail = ',"logprobs":null,"finish_reason":null}]' + (g.includeUsage ? ',"usage":null' : '') + '}\n\n';
  if (g.timing.ttft > 0) yield g.timing.ttft;
  let live = a.choices.map((p) => choiceFrames(a, p, prefix + p.index + ',"delta":', tail));
  for (let round = 0; live.length > 0; round++) {
    if (round > 0 && g.timing.delay > 0) yield g.timing.delay;
    const still: typeof live = [];
    for (const it of live) {
      for (;;) {
        const r = it.next();
        if (r.done) break;
        if (r.value === ROUND) {
          still.push(it);
          break;
        }
        yield r.value;
      }
    }
    live = still;
  }
  if (g.includeUsage) {
    let completion = 0;
    for (const p of a.choices) completion += outputTokens(p);
    yield 'data: ' + JSON.stringify({
      id: g.id,
      object: 'chat.completion.chunk',
      created: g.created,
      model: g.model,
      service_tier: 'default',
      system_fingerprint: FINGERPRINT,
      choices: [],
      usage: chatUsage(g.promptTokens, completion),
    }) + '\n\n';
  }
  yield 'data: [DONE]\n\n';
}
