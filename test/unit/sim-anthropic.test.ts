import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createSimFetch } from '../../src/sim/handler.js';
import { createSimServer } from '../../src/sim/server.js';
import { simText } from '../../src/sim/text.js';
import { schemaErrors, simPost, sseEvents, type Wire } from '../helpers/sim-check.js';

const f = createSimFetch({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });
const PATH = '/anthropic/v1/messages';

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 10 }, units: { enum: ['c', 'f'] }, hourly: { type: 'boolean' } },
  required: ['city', 'days', 'units', 'hourly'],
};
const TOOLS = [
  { name: 'get_weather', description: 'Weather', input_schema: SCHEMA },
  { name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } },
  { type: 'web_search_20250305', name: 'web_search' },
];

function req(content: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'sim-claude-1', max_tokens: 1024, messages: [{ role: 'user', content }], ...extra };
}

const STOP_REASONS = ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use'];
const DELTA_FOR: Record<string, string[]> = { text: ['text_delta'], thinking: ['thinking_delta', 'signature_delta'], tool_use: ['input_json_delta'] };

/**
 * Check a Messages API event stream against the documented grammar and rebuild the message it
 * carries: message_start, ping early, blocks opened / filled / closed in index order with deltas
 * of their own type, one message_delta, message_stop last.
 */
function readStream(text: string): { message: Wire; pieces: number[]; events: Wire[] } {
  const events = sseEvents(text).map((e) => {
    const data = JSON.parse(e.data) as Wire;
    assert.equal(data.type, e.event, 'the event name is the data type');
    return data;
  });
  const start = events[0]!;
  assert.equal(start.type, 'message_start');
  const m = start.message;
  assert.match(m.id, /^msg_/);
  assert.deepEqual([m.type, m.role, m.content, m.stop_reason, m.stop_sequence], ['message', 'assistant', [], null, null]);
  assert.equal(m.usage.output_tokens, 1);
  assert.equal(m.usage.cache_read_input_tokens, 0);
  assert.equal(m.usage.cache_creation_input_tokens, 0);
  assert.ok(Number.isInteger(m.usage.input_tokens) && m.usage.input_tokens >= 1);
  const firstDelta = events.findIndex((e) => e.type === 'content_block_delta');
  const ping = events.findIndex((e) => e.type === 'ping');
  assert.ok(ping > 0 && (firstDelta < 0 || ping < firstDelta), 'a ping early on');
  assert.equal(events.at(-1)!.type, 'message_stop');
  const content: Wire[] = [];
  const pieces: number[] = [];
  let open: Wire | null = null;
  let json = '';
  let delta: Wire | undefined;
  for (const e of events.slice(1, -1)) {
    if (e.type === 'ping') continue;
    assert.equal(delta, undefined, `${e.type} after message_delta`);
    if (e.type === 'content_block_start') {
      assert.equal(open, null, 'one block at a time');
      assert.equal(e.index, content.length);
      const block: Wire = { ...e.content_block };
      open = block;
      if (block.type === 'tool_use') {
        assert.match(block.id, /^toolu_/);
        assert.deepEqual(block.input, {});
        json = '';
        pieces.push(0);
      }
    } else if (e.type === 'content_block_delta') {
      assert.ok(open, 'a delta inside a block');
      assert.equal(e.index, content.length);
      assert.ok(DELTA_FOR[open.type]!.includes(e.delta.type), `${e.delta.type} in a ${open.type} block`);
      if (e.delta.type === 'text_delta') open.text += e.delta.text;
      else if (e.delta.type === 'thinking_delta') {
        assert.equal(open.signature, '', 'thinking before the signature');
        open.thinking += e.delta.thinking;
      } else if (e.delta.type === 'signature_delta') open.signature = e.delta.signature;
      else {
        json += e.delta.partial_json;
        if (e.delta.partial_json !== '') pieces[pieces.length - 1]!++;
      }
    } else if (e.type === 'content_block_stop') {
      assert.ok(open);
      assert.equal(e.index, content.length);
      if (open.type === 'tool_use') open.input = json === '' ? {} : JSON.parse(json);
      if (open.type === 'thinking') assert.ok(open.signature.length > 0, 'a signed thinking block');
      content.push(open);
      open = null;
    } else {
      assert.equal(e.type, 'message_delta');
      assert.equal(open, null, 'blocks are closed before message_delta');
      assert.ok(STOP_REASONS.includes(e.delta.stop_reason));
      delta = e;
    }
  }
  assert.ok(delta, 'a message_delta');
  const message = { ...m, content, stop_reason: delta.delta.stop_reason, stop_sequence: delta.delta.stop_sequence, usage: { ...m.usage, ...delta.usage } };
  return { message, pieces, events };
}

/** The message without what differs between two answers to the same request (ids). */
function sameMessage(a: Wire, b: Wire): void {
  const strip = (m: Wire): Wire => ({
    ...m,
    id: undefined,
    content: m.content.map((c: Wire) => ({ ...c, id: undefined })),
    usage: { ...m.usage, service_tier: undefined },
  });
  assert.deepEqual(strip(a), strip(b));
}

async function both(body: Record<string, unknown>): Promise<{ streamed: Wire; whole: Wire; pieces: number[] }> {
  const sres = await simPost(f, PATH, { ...body, stream: true });
  assert.equal(sres.status, 200);
  assert.equal(sres.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const { message, pieces } = readStream(await sres.text());
  const wres = await simPost(f, PATH, body);
  assert.equal(wres.status, 200);
  const whole = (await wres.json()) as Wire;
  sameMessage(message, whole);
  return { streamed: message, whole, pieces };
}

describe('sim anthropic: messages', () => {
  it('streams a text message; the non-streaming answer is the same message', async () => {
    const { whole } = await both(req('Hello there, simulator!'));
    assert.equal(whole.type, 'message');
    assert.equal(whole.model, 'sim-claude-1');
    assert.deepEqual(whole.content, [{ type: 'text', text: simText(16) }]);
    assert.equal(whole.stop_reason, 'end_turn', 'max_tokens above the natural length');
    assert.equal(whole.usage.output_tokens, 16);
    assert.equal(whole.usage.input_tokens, 6); // 23 characters
  });

  it('max_tokens at or below the natural length cuts the text: stop_reason max_tokens', async () => {
    for (const max of [5, 16]) {
      const { whole } = await both(req('hi', { max_tokens: max }));
      assert.equal(whole.content[0].text, simText(max));
      assert.equal(whole.stop_reason, 'max_tokens');
      assert.equal(whole.usage.output_tokens, max);
    }
  });

  it('counts system, messages and content blocks in input_tokens; count_tokens agrees', async () => {
    const body = req([{ type: 'text', text: 'abcdefgh' }], { system: [{ type: 'text', text: 'abcd' }] });
    const { whole } = await both(body);
    assert.equal(whole.usage.input_tokens, 3);
    const counted = (await (await simPost(f, PATH + '/count_tokens', body)).json()) as Wire;
    assert.deepEqual(counted, { input_tokens: 3 });
  });

  it('stop_sequences: the text ends before the sequence, stop_reason stop_sequence', async () => {
    const text = simText(16);
    const seq = text.slice(30, 37);
    const { whole } = await both(req('hi', { stop_sequences: ['zzz', seq] }));
    assert.equal(whole.content[0].text, text.slice(0, text.indexOf(seq)));
    assert.equal(whole.stop_reason, 'stop_sequence');
    assert.equal(whole.stop_sequence, seq);
  });

  it('thinking: a signed thinking block first, counted in output_tokens and in max_tokens', async () => {
    const { whole } = await both(req('think', { max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } }));
    assert.deepEqual(whole.content.map((b: Wire) => b.type), ['thinking', 'text']);
    assert.equal(whole.content[0].thinking, simText(16, 'thinking:'));
    assert.equal(typeof whole.content[0].signature, 'string');
    assert.equal(whole.content[1].text, simText(16));
    assert.equal(whole.usage.output_tokens, 32);
    assert.equal(whole.stop_reason, 'end_turn');

    const adaptive = (await both(req('think', { max_tokens: 20, thinking: { type: 'adaptive' } }))).whole;
    assert.equal(adaptive.content[0].thinking, simText(16, 'thinking:'));
    assert.equal(adaptive.content[1].text, simText(4), 'thinking and text share max_tokens');
    assert.equal(adaptive.stop_reason, 'max_tokens');
    const off = (await both(req('think', { thinking: { type: 'disabled' } }))).whole;
    assert.deepEqual(off.content.map((b: Wire) => b.type), ['text']);
  });

  it('tools: a tool_use block whose input arrives in pieces and fits input_schema; stop_reason tool_use', async () => {
    const { whole, pieces } = await both(req('What is the weather? use get_weather', { tools: TOOLS }));
    assert.equal(whole.stop_reason, 'tool_use');
    assert.deepEqual(whole.content.map((b: Wire) => [b.type, b.name]), [['tool_use', 'get_weather']]);
    assert.match(whole.content[0].id, /^toolu_/);
    assert.deepEqual(schemaErrors(SCHEMA, whole.content[0].input), []);
    assert.ok(pieces[0]! > 2, 'partial_json in several pieces');
    assert.equal(whole.usage.output_tokens, pieces[0]);
  });

  it('tool_choice any / tool / none, disable_parallel_tool_use, thinking then tool_use, text after a tool_result', async () => {
    const names = async (body: Record<string, unknown>): Promise<string[]> =>
      (await both(body)).whole.content.map((b: Wire) => (b.type === 'tool_use' ? b.name : b.type));
    assert.deepEqual(await names(req('hello', { tools: TOOLS })), ['text'], 'auto without a mention');
    assert.deepEqual(await names(req('hello', { tools: TOOLS, tool_choice: { type: 'any' } })), ['get_weather']);
    assert.deepEqual(await names(req('hello', { tools: TOOLS, tool_choice: { type: 'tool', name: 'lookup' } })), ['lookup']);
    assert.deepEqual(await names(req('use get_weather', { tools: TOOLS, tool_choice: { type: 'none' } })), ['text']);
    assert.deepEqual(await names(req('lookup or get_weather', { tools: TOOLS })), ['get_weather', 'lookup']);
    assert.deepEqual(await names(req('lookup or get_weather', { tools: TOOLS, tool_choice: { type: 'auto', disable_parallel_tool_use: true } })), ['get_weather']);
    assert.deepEqual(await names(req('use web_search', { tools: TOOLS })), ['text'], 'server tools are never called');
    assert.deepEqual(await names(req('use lookup', { tools: TOOLS, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } })), ['thinking', 'lookup']);

    const first = (await both(req('use lookup', { tools: TOOLS }))).whole;
    const messages = [
      { role: 'user', content: 'use lookup' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: first.content[0].id, content: 'found it' }] },
    ];
    const after = (await both({ model: 'sim-claude-1', max_tokens: 1024, tools: TOOLS, tool_choice: { type: 'any' }, messages })).whole;
    assert.deepEqual(after.content, [{ type: 'text', text: simText(16) }]);
    assert.equal(after.stop_reason, 'end_turn');
  });

  it('errors in Anthropic shape: missing max_tokens, OpenAI-only fields, thinking budget, unknown tool, bad JSON, 404', async () => {
    const cases: [Promise<Response>, number, string, RegExp][] = [
      [simPost(f, PATH, { model: 'sim-claude-1', messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request_error', /max_tokens/],
      [simPost(f, PATH, req('x', { n: 2 })), 400, 'invalid_request_error', /^n: Extra inputs/],
      [simPost(f, PATH, req('x', { seed: 1 })), 400, 'invalid_request_error', /seed/],
      [simPost(f, PATH, req('x', { messages: [] })), 400, 'invalid_request_error', /messages/],
      [simPost(f, PATH, req('x', { thinking: { type: 'enabled', budget_tokens: 100 } })), 400, 'invalid_request_error', /budget_tokens/],
      [simPost(f, PATH, req('x', { thinking: { type: 'enabled', budget_tokens: 1024 } })), 400, 'invalid_request_error', /max_tokens/],
      [simPost(f, PATH, req('x', { tools: TOOLS, tool_choice: { type: 'tool', name: 'nope' } })), 400, 'invalid_request_error', /nope/],
      [simPost(f, PATH, req('x', { tools: TOOLS, tool_choice: { type: 'any' }, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } })), 400, 'invalid_request_error', /Thinking/],
      [simPost(f, PATH, '{"model":'), 400, 'invalid_request_error', /JSON/],
      [simPost(f, '/anthropic/v1/complete', req('x')), 404, 'not_found_error', /Not Found/],
    ];
    for (const [p, status, type, message] of cases) {
      const res = await p;
      assert.equal(res.status, status);
      const body = (await res.json()) as Wire;
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, type);
      assert.match(body.error.message, message);
      assert.match(body.request_id, /^req_/);
    }
  });
});

describe('sim anthropic: models', () => {
  it('lists models with Anthropic paging, and looks one up', async () => {
    const list = (await (await f('http://sim.local/anthropic/v1/models?limit=20')).json()) as Wire;
    assert.deepEqual(list.data.map((m: Wire) => m.id), ['sim-claude-1', 'sim-claude-fast']);
    for (const m of list.data) {
      assert.equal(m.type, 'model');
      assert.equal(typeof m.display_name, 'string');
      assert.ok(!Number.isNaN(Date.parse(m.created_at)));
    }
    assert.deepEqual([list.has_more, list.first_id, list.last_id], [false, 'sim-claude-1', 'sim-claude-fast']);
    const page1 = (await (await f('http://sim.local/anthropic/v1/models?limit=1')).json()) as Wire;
    assert.deepEqual([page1.data.length, page1.has_more, page1.last_id], [1, true, 'sim-claude-1']);
    const page2 = (await (await f(`http://sim.local/anthropic/v1/models?limit=1&after_id=${page1.last_id}`)).json()) as Wire;
    assert.deepEqual([page2.data[0].id, page2.has_more], ['sim-claude-fast', false]);
    assert.equal(((await (await f('http://sim.local/anthropic/v1/models/sim-claude-fast')).json()) as Wire).id, 'sim-claude-fast');
    const missing = await f('http://sim.local/anthropic/v1/models/claude-9');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Wire).error.type, 'not_found_error');
  });
});

describe('sim anthropic: timing and the http server', () => {
  it('waits ttftMs before message_start and tokenDelayMs between token deltas; sim-claude-fast does not', async () => {
    const slow = createSimFetch({ ttftMs: 40, tokenDelayMs: 10, defaultMaxTokens: 4 });
    const t0 = performance.now();
    const res = await simPost(slow, PATH, req('hi', { stream: true }));
    const reader = res.body!.getReader();
    const arrivals: { t: number; text: string }[] = [];
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push({ t: performance.now() - t0, text: dec.decode(value) });
    }
    assert.ok(arrivals[0]!.t >= 38, `message_start at ${arrivals[0]!.t} ms`);
    const deltas = arrivals.filter((a) => a.text.includes('text_delta'));
    assert.equal(deltas.length, 4);
    for (let i = 1; i < 4; i++) assert.ok(deltas[i]!.t - deltas[i - 1]!.t >= 8, `gap ${i}`);
    const t1 = performance.now();
    await (await simPost(slow, PATH, req('hi'))).json();
    assert.ok(performance.now() - t1 >= 40 + 30 - 4, 'the whole answer takes as long as the stream');

    const fast = createSimFetch({ ttftMs: 5000, tokenDelayMs: 1000, defaultMaxTokens: 4 });
    const t2 = performance.now();
    await (await simPost(fast, PATH, req('hi', { model: 'sim-claude-fast', stream: true }))).text();
    assert.ok(performance.now() - t2 < 1000);
  });

  it('the standalone server serves /anthropic/v1/messages and models', async () => {
    const server = createSimServer({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/anthropic/v1`;
      const res = await fetch(base + '/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req('use lookup', { tools: TOOLS, stream: true })) });
      assert.equal(res.status, 200);
      const { message } = readStream(await res.text());
      assert.equal(message.content[0].name, 'lookup');
      const models = (await (await fetch(base + '/models?limit=5')).json()) as Wire;
      assert.ok(models.data.some((m: Wire) => m.id === 'sim-claude-1'));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
