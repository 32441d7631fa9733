// Property: any Anthropic answer (random text, thinking, redacted and tool_use blocks, tool input
// JSON streamed in random pieces, pings anywhere, usage reported cumulatively over several
// message_deltas), streamed through the translator event by event or as raw bytes read in random
// pieces, rebuilds into the answer Anthropic meant; and that is what the same message, not
// streamed, becomes (src/providers/anthropic/response.ts).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import type { SseEvent } from '../../src/sse/parser.js';
import { CTX, ev, fromCompletion, reassemble, sseText, translate, translateBytes, type Reassembled } from './provider-anthropic-wire.test.js';

type Block =
  | { kind: 'text' | 'thinking'; pieces: string[] }
  | { kind: 'tool'; name: string; input: Record<string, unknown>; cuts: number[] }
  | { kind: 'redacted' };

const piecesArb = fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { minLength: 1, maxLength: 4 });
const blockArb: fc.Arbitrary<Block> = fc.oneof(
  fc.record({ kind: fc.constantFrom('text' as const, 'thinking' as const), pieces: piecesArb }),
  fc.record({
    kind: fc.constant('tool' as const),
    name: fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/),
    input: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('redacted' as const) }),
);
const countsArb = fc.record({
  input_tokens: fc.nat({ max: 100000 }),
  cache_creation_input_tokens: fc.nat({ max: 100000 }),
  cache_read_input_tokens: fc.nat({ max: 100000 }),
  output_tokens: fc.nat({ max: 100000 }),
});
const answerArb = fc.record({
  blocks: fc.array(blockArb, { maxLength: 6 }),
  stop: fc.constantFrom('end_turn', 'tool_use', 'max_tokens', 'stop_sequence', 'refusal', 'pause_turn'),
  counts: countsArb,
  /** How many message_deltas carry usage, and which of them repeat the input fields. */
  deltas: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
  pings: fc.array(fc.nat(), { maxLength: 4 }),
});
type Answer = typeof answerArb extends fc.Arbitrary<infer T> ? T : never;

const FINISH: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', pause_turn: 'stop', tool_use: 'tool_calls', max_tokens: 'length', refusal: 'content_filter' };

/** `s` in pieces at `cuts` (positions taken modulo its length, in order). */
function split(s: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(s.slice(from, c));
    from = c;
  }
  out.push(s.slice(from));
  return out;
}

/** The Anthropic stream of an answer. */
function events(a: Answer): SseEvent[] {
  const evs: SseEvent[] = [];
  const startUsage = { ...a.counts, output_tokens: Math.min(1, a.counts.output_tokens) };
  evs.push(ev({ type: 'message_start', message: { id: 'msg_p', type: 'message', role: 'assistant', content: [], model: 'claude-p', stop_reason: null, usage: startUsage } }));
  a.blocks.forEach((b, index) => {
    const delta = (d: Record<string, unknown>) => evs.push(ev({ type: 'content_block_delta', index, delta: d }));
    if (b.kind === 'text') {
      evs.push(ev({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      for (const t of b.pieces) delta({ type: 'text_delta', text: t });
    } else if (b.kind === 'thinking') {
      evs.push(ev({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
      for (const t of b.pieces) delta({ type: 'thinking_delta', thinking: t });
      delta({ type: 'signature_delta', signature: 'sig' });
    } else if (b.kind === 'tool') {
      evs.push(ev({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: `toolu_${index}`, name: b.name, input: {} } }));
      for (const p of ['', ...split(JSON.stringify(b.input), b.cuts)]) delta({ type: 'input_json_delta', partial_json: p });
    } else {
      evs.push(ev({ type: 'content_block_start', index, content_block: { type: 'redacted_thinking', data: 'opaque' } }));
    }
    evs.push(ev({ type: 'content_block_stop', index }));
  });
  a.deltas.forEach((repeatInput, i) => {
    const last = i === a.deltas.length - 1;
    const output = last ? a.counts.output_tokens : Math.min(i + 1, a.counts.output_tokens);
    const usage = repeatInput ? { ...a.counts, output_tokens: output } : { output_tokens: output };
    evs.push(ev({ type: 'message_delta', delta: { stop_reason: last ? a.stop : null, stop_sequence: null }, usage }));
  });
  evs.push(ev({ type: 'message_stop' }));
  for (const p of a.pings) evs.splice(1 + (p % evs.length), 0, ev({ type: 'ping' }));
  return evs;
}

/** The same answer as a whole message body. */
function message(a: Answer): Record<string, unknown> {
  const content = a.blocks.map((b, i) => {
    if (b.kind === 'text') return { type: 'text', text: b.pieces.join('') };
    if (b.kind === 'thinking') return { type: 'thinking', thinking: b.pieces.join(''), signature: 'sig' };
    if (b.kind === 'tool') return { type: 'tool_use', id: `toolu_${i}`, name: b.name, input: b.input };
    return { type: 'redacted_thinking', data: 'opaque' };
  });
  return { id: 'msg_p', type: 'message', role: 'assistant', model: 'claude-p', content, stop_reason: a.stop, usage: a.counts };
}

/** What Anthropic meant, written out by hand. */
function meant(a: Answer): Reassembled {
  const c = a.counts;
  const prompt = c.input_tokens + c.cache_creation_input_tokens + c.cache_read_input_tokens;
  return {
    model: 'claude-p',
    content: a.blocks.flatMap((b) => (b.kind === 'text' ? b.pieces : [])).join(''),
    reasoning: a.blocks.flatMap((b) => (b.kind === 'thinking' ? b.pieces : [])).join(''),
    toolCalls: a.blocks.flatMap((b, i) => (b.kind === 'tool' ? [{ id: `toolu_${i}`, name: b.name, arguments: JSON.stringify(b.input) }] : [])),
    finish: FINISH[a.stop]!,
    usage: {
      prompt_tokens: prompt, completion_tokens: c.output_tokens, total_tokens: prompt + c.output_tokens,
      prompt_tokens_details: { cached_tokens: c.cache_read_input_tokens },
    },
  };
}

describe('Anthropic stream translator: property', () => {
  it('any answer, streamed event by event, rebuilds into what Anthropic meant and what the non-streamed message gives', () => {
    fc.assert(
      fc.property(answerArb, (a) => {
        const out = translate(events(a));
        assert.equal(out.completed, 1);
        const want = meant(a);
        assert.deepEqual(reassemble(out.payloads), want);
        assert.deepEqual(fromCompletion(anthropicProvider.chatResponse(message(a), CTX)!), want);
      }),
      { numRuns: 300 },
    );
  });

  it('the same over raw bytes read in random pieces', () => {
    fc.assert(
      fc.property(answerArb, fc.array(fc.nat(), { maxLength: 12 }), (a, cuts) => {
        const wire = Buffer.from(sseText(events(a)));
        const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((x, y) => x - y);
        const pieces = [...at, wire.length].map((end, i) => wire.subarray(i === 0 ? 0 : at[i - 1]!, end));
        const out = translateBytes(pieces);
        assert.equal(out.completed, 1);
        assert.deepEqual(reassemble(out.payloads), meant(a));
      }),
      { numRuns: 200 },
    );
  });
});
