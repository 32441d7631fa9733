// The Anthropic stream translator (src/providers/anthropic/stream.ts) on event sequences shaped as
// Anthropic's "Streaming messages" documents them: each fed event by event, and as raw SSE bytes
// through the proxy's frame splitter cut at every byte position, must rebuild (as an OpenAI client
// does) the answer Anthropic meant, with its usage counted once.
import { strict as assert } from 'node:assert';
import type { SseEvent } from '../../src/sse/parser.js';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import { CTX, cutAt, ev, fromCompletion, reassemble, sseText, translate, translateBytes, type Reassembled } from './provider-anthropic-wire.test.js';

const MODEL = 'claude-sonnet-4-5-20250929';
const start = (usage: Record<string, unknown> = { input_tokens: 25, output_tokens: 1 }) =>
  ev({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: MODEL, stop_reason: null, stop_sequence: null, usage } });
const block = (index: number, content_block: Record<string, unknown>) => ev({ type: 'content_block_start', index, content_block });
const delta = (index: number, d: Record<string, unknown>) => ev({ type: 'content_block_delta', index, delta: d });
const text = (index: number, t: string) => delta(index, { type: 'text_delta', text: t });
const json = (index: number, partial_json: string) => delta(index, { type: 'input_json_delta', partial_json });
const thinking = (index: number, t: string) => delta(index, { type: 'thinking_delta', thinking: t });
const stopBlock = (index: number) => ev({ type: 'content_block_stop', index });
const messageDelta = (stop_reason: string | null, usage: Record<string, unknown>) => ev({ type: 'message_delta', delta: { stop_reason, stop_sequence: null }, usage });
const STOP = ev({ type: 'message_stop' });
const PING = ev({ type: 'ping' });
const usage = (prompt: number, completion: number, cached: number) => ({
  prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached },
});

interface Case {
  name: string;
  events: SseEvent[];
  want: Reassembled;
  /** The same answer as a non-streamed message body, when the case has one. */
  message?: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    name: 'text with pings',
    events: [start(), PING, block(0, { type: 'text', text: '' }), PING, text(0, 'Hello'), text(0, ', wörld 👋'), stopBlock(0), PING, messageDelta('end_turn', { output_tokens: 15 }), STOP],
    want: { model: MODEL, content: 'Hello, wörld 👋', reasoning: '', toolCalls: [], finish: 'stop', usage: usage(25, 15, 0) },
    message: { type: 'message', model: MODEL, content: [{ type: 'text', text: 'Hello, wörld 👋' }], stop_reason: 'end_turn', usage: { input_tokens: 25, output_tokens: 15 } },
  },
  {
    name: 'several tool calls interleaved with text',
    events: [
      start(), block(0, { type: 'text', text: '' }), text(0, 'Let me check both.'), stopBlock(0),
      block(1, { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: {} }), json(1, ''), json(1, '{"location":'), PING, json(1, ' "San Fra'), json(1, 'ncisco, CA"}'), stopBlock(1),
      block(2, { type: 'text', text: '' }), text(2, ' And the time:'), stopBlock(2),
      block(3, { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: {} }), json(3, '{"tz":'), json(3, '"PST"}'), stopBlock(3),
      messageDelta('tool_use', { output_tokens: 89 }), STOP,
    ],
    want: {
      model: MODEL, content: 'Let me check both. And the time:', reasoning: '', finish: 'tool_calls', usage: usage(25, 89, 0),
      toolCalls: [{ id: 'toolu_A', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' }, { id: 'toolu_B', name: 'get_time', arguments: '{"tz":"PST"}' }],
    },
  },
  {
    name: 'thinking, a redacted block, then text',
    events: [
      start(), block(0, { type: 'thinking', thinking: '', signature: '' }), thinking(0, 'Let me think'), thinking(0, ' step by step.'),
      delta(0, { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' }), stopBlock(0),
      block(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }), stopBlock(1),
      block(2, { type: 'text', text: '' }), text(2, 'The answer is 42.'), stopBlock(2), messageDelta('end_turn', { output_tokens: 120 }), STOP,
    ],
    want: { model: MODEL, content: 'The answer is 42.', reasoning: 'Let me think step by step.', toolCalls: [], finish: 'stop', usage: usage(25, 120, 0) },
    message: {
      type: 'message', model: MODEL, stop_reason: 'end_turn', usage: { input_tokens: 25, output_tokens: 120 },
      content: [{ type: 'thinking', thinking: 'Let me think step by step.', signature: 'x' }, { type: 'redacted_thinking', data: 'y' }, { type: 'text', text: 'The answer is 42.' }],
    },
  },
  {
    name: 'usage over several cumulative message_deltas, with cache tokens',
    events: [
      start({ input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 1 }),
      block(0, { type: 'text', text: '' }), text(0, 'ok'), stopBlock(0),
      messageDelta(null, { output_tokens: 5 }),
      messageDelta('max_tokens', { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 40 }),
      messageDelta(null, { input_tokens: null, cache_read_input_tokens: null, output_tokens: 40 }), STOP,
    ],
    want: { model: MODEL, content: 'ok', reasoning: '', toolCalls: [], finish: 'length', usage: usage(2312, 40, 2000) },
    message: {
      type: 'message', model: MODEL, content: [{ type: 'text', text: 'ok' }], stop_reason: 'max_tokens',
      usage: { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 40 },
    },
  },
  {
    name: 'a tool call without arguments',
    events: [start(), block(0, { type: 'tool_use', id: 'toolu_C', name: 'now', input: {} }), json(0, ''), stopBlock(0), messageDelta('tool_use', { output_tokens: 9 }), STOP],
    want: { model: MODEL, content: '', reasoning: '', finish: 'tool_calls', usage: usage(25, 9, 0), toolCalls: [{ id: 'toolu_C', name: 'now', arguments: '{}' }] },
    message: { type: 'message', model: MODEL, content: [{ type: 'tool_use', id: 'toolu_C', name: 'now', input: {} }], stop_reason: 'tool_use', usage: { input_tokens: 25, output_tokens: 9 } },
  },
];

describe('Anthropic stream translator: documented sequences', () => {
  for (const c of CASES) {
    it(`${c.name}: event by event`, () => {
      const out = translate(c.events);
      assert.equal(out.completed, 1);
      assert.deepEqual(out.failures, []);
      assert.deepEqual(reassemble(out.payloads), c.want);
      if (c.message !== undefined) assert.deepEqual(fromCompletion(anthropicProvider.chatResponse(c.message, CTX)!), c.want);
    });

    it(`${c.name}: raw bytes cut at every position, and byte by byte, with LF and CRLF`, () => {
      const want = translate(c.events).payloads;
      const lf = Buffer.from(sseText(c.events));
      for (let i = 0; i <= lf.length; i++) {
        const out = translateBytes(cutAt(lf, i));
        assert.deepEqual(out.payloads, want, `cut at byte ${i}`);
        assert.equal(out.completed, 1);
      }
      for (const wire of [lf, Buffer.from(sseText(c.events).replaceAll('\n', '\r\n'))]) {
        const out = translateBytes([...wire].map((b) => Uint8Array.of(b)));
        assert.deepEqual(out.payloads, want);
        assert.equal(out.completed, 1);
      }
    });
  }

  it('reads events by their data alone (frames without an event: line)', () => {
    const c = CASES[1]!;
    const bare = c.events.map((e) => ({ data: e.data }));
    assert.deepEqual(reassemble(translate(bare).payloads), c.want);
    assert.deepEqual(reassemble(translateBytes([Buffer.from(sseText(bare))]).payloads), c.want);
  });

  it('sends nothing at message_start: the first chunk carries the role with the first content', () => {
    const out = translate([start(), PING, block(0, { type: 'text', text: '' })]);
    assert.deepEqual(out.payloads, []);
    const first = JSON.parse(translate([start(), block(0, { type: 'text', text: '' }), text(0, 'Hi')]).payloads[0]!);
    assert.deepEqual(first.choices[0].delta, { role: 'assistant', content: 'Hi' });
    assert.equal(first.model, MODEL);
  });

  it('an answer with no content is one finish chunk with the role, then usage', () => {
    const out = translate([start(), messageDelta('end_turn', { output_tokens: 0 }), STOP]);
    assert.equal(out.payloads.length, 2);
    assert.deepEqual(JSON.parse(out.payloads[0]!).choices[0], { index: 0, delta: { role: 'assistant' }, logprobs: null, finish_reason: 'stop' });
    assert.deepEqual(reassemble(out.payloads).usage, usage(25, 0, 0));
  });

  it('maps every stop reason, unknown ones to stop', () => {
    const table: [string, string][] = [
      ['end_turn', 'stop'], ['stop_sequence', 'stop'], ['pause_turn', 'stop'], ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'], ['tool_use', 'tool_calls'], ['refusal', 'content_filter'], ['something_new', 'stop'],
    ];
    for (const [stop, finish] of table) {
      assert.equal(reassemble(translate([start(), messageDelta(stop, { output_tokens: 1 }), STOP]).payloads).finish, finish, stop);
    }
  });

  it('reports the context model when message_start names none', () => {
    const out = translate([ev({ type: 'message_start', message: { usage: { input_tokens: 1 } } }), block(0, { type: 'text', text: 'x' }), STOP]);
    assert.equal(reassemble(out.payloads).model, CTX.model);
  });

  it('ignores unknown events, unknown blocks and deltas, and data that is not JSON', () => {
    const out = translate([
      start(), { event: 'message_future', data: '{"type":"message_future"}' }, { data: '[DONE]' }, { event: 'content_block_delta', data: 'not json' },
      block(0, { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} }), json(0, '{"query":"x"}'), stopBlock(0),
      block(1, { type: 'text', text: '' }), delta(1, { type: 'citations_delta', citation: {} }), text(1, 'done'), stopBlock(1), text(7, 'stray'),
      messageDelta('end_turn', { output_tokens: 3 }), STOP,
    ]);
    assert.deepEqual(reassemble(out.payloads), { model: MODEL, content: 'done', reasoning: '', toolCalls: [], finish: 'stop', usage: usage(25, 3, 0) });
  });
});

describe('Anthropic stream translator: errors and cuts', () => {
  const overloaded = ev({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

  it('an error right after message_start sends nothing and fails with 503 overloaded', () => {
    const out = translate([start(), PING, overloaded, block(0, { type: 'text', text: '' }), text(0, 'late'), STOP]);
    assert.deepEqual(out.payloads, []);
    assert.equal(out.completed, 0);
    assert.equal(out.failures.length, 1);
    const e = out.failures[0]!;
    assert.deepEqual([e.status, e.type, e.code, e.message], [503, 'server_error', 'overloaded_error', 'Overloaded']);
  });

  it('an error mid-stream fails after what was sent, with its own status', () => {
    const out = translate([start(), block(0, { type: 'text', text: '' }), text(0, 'Hel'), ev({ type: 'error', error: { type: 'api_error', message: 'Internal server error' } })]);
    assert.equal(reassemble(out.payloads).content, 'Hel');
    assert.deepEqual([out.failures[0]!.status, out.failures[0]!.type, out.failures[0]!.code], [500, 'server_error', 'api_error']);
    assert.equal(out.completed, 0);
  });

  it('an error event whose data is not readable still fails the stream (502)', () => {
    const out = translate([start(), { event: 'error', data: 'upstream exploded' }]);
    assert.equal(out.failures[0]!.status, 502);
  });

  it('a body cut before message_stop sends no finish and does not complete, at every byte', () => {
    const events = CASES[1]!.events;
    const wire = Buffer.from(sseText(events));
    const whole = reassemble(translate(events).payloads);
    const stopAt = wire.indexOf('{"type":"message_stop"}') + '{"type":"message_stop"}'.length;
    for (let i = 0; i <= wire.length; i++) {
      const out = translateBytes([wire.subarray(0, i)]);
      assert.equal(out.completed, i >= stopAt ? 1 : 0, `cut at ${i}`);
      const got = reassemble(out.payloads);
      if (i < stopAt) assert.equal(got.finish, null);
      assert.ok(whole.content.startsWith(got.content));
      got.toolCalls.forEach((call, k) => assert.ok(whole.toolCalls[k]!.arguments.startsWith(call.arguments)));
    }
  });
});
