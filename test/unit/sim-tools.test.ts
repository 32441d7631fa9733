import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSimFetch } from '../../src/sim/handler.js';
import { schemaValue } from '../../src/sim/schema-value.js';
import { fnv1a, mulberry32, simText } from '../../src/sim/text.js';
import { planString, planText } from '../../src/sim/text-plan.js';
import { argPieces, mentions, pickTools, type SimTool, type ToolMode } from '../../src/sim/tools.js';
import { schemaErrors, simPost, type Wire } from '../helpers/sim-check.js';

const f = createSimFetch({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });

const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 2 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
    when: { type: 'string', format: 'date-time' },
    coords: { type: 'object', properties: { lat: { type: 'number', minimum: -90, maximum: 90 }, lon: { type: 'number' } }, required: ['lat', 'lon'] },
    tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4 },
    strict: { type: 'boolean' },
  },
  required: ['city', 'unit', 'days', 'coords', 'tags', 'strict'],
  additionalProperties: false,
};
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER } },
  { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } },
];

function chat(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'sim-1', messages: [{ role: 'user', content }], tools: TOOLS, ...extra };
}

/** The tool calls a chat stream assembles, per choice index, checking the delta grammar. */
function assembleCalls(frames: Wire[]): Map<number, { id: string; name: string; arguments: string; pieces: number }[]> {
  const out = new Map<number, { id: string; name: string; arguments: string; pieces: number }[]>();
  for (const c of frames) {
    for (const ch of c.choices) {
      for (const tc of ch.delta.tool_calls ?? []) {
        const calls = out.get(ch.index) ?? [];
        out.set(ch.index, calls);
        if (tc.id !== undefined) {
          assert.equal(tc.index, calls.length, 'a new call takes the next index');
          assert.equal(tc.type, 'function');
          assert.match(tc.id, /^call_/);
          assert.equal(tc.function.arguments, '', 'the name comes first, the arguments after');
          calls.push({ id: tc.id, name: tc.function.name, arguments: '', pieces: 0 });
        } else {
          const call = calls[tc.index]!;
          assert.ok(call, 'arguments for a call that was announced');
          assert.equal(tc.function.name, undefined);
          call.arguments += tc.function.arguments;
          call.pieces++;
        }
      }
    }
  }
  return out;
}

async function streamChunks(body: Record<string, unknown>): Promise<Wire[]> {
  const text = await (await simPost(f, '/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } })).text();
  const frames = text.slice(0, -2).split('\n\n').map((fr) => fr.slice(6));
  assert.equal(frames.at(-1), '[DONE]');
  return frames.slice(0, -1).map((x) => JSON.parse(x) as Wire);
}

describe('sim tools: the tool-calling rule', () => {
  const tools: SimTool[] = [{ name: 'get_weather', schema: {} }, { name: 'lookup', schema: {} }];
  const ctx = (lastUserText: string, afterToolResult = false, parallel = true) => ({ lastUserText, afterToolResult, parallel });
  const names = (mode: ToolMode, c: ReturnType<typeof ctx>): string[] => pickTools(tools, mode, c).map((t) => t.name);

  it('auto: a mentioned tool, or the first when asked to use one, else text', () => {
    assert.deepEqual(names({ kind: 'auto' }, ctx('What is the weather? Try GET_WEATHER.')), ['get_weather']);
    assert.deepEqual(names({ kind: 'auto' }, ctx('please use the tool')), ['get_weather']);
    assert.deepEqual(names({ kind: 'auto' }, ctx('Call a function for me')), ['get_weather']);
    assert.deepEqual(names({ kind: 'auto' }, ctx('hello there')), []);
    assert.deepEqual(names({ kind: 'auto' }, ctx('get_weathering is not a mention')), []);
    assert.deepEqual(names({ kind: 'auto' }, ctx('lookup then get_weather')), ['get_weather', 'lookup'], 'tools order');
    assert.deepEqual(names({ kind: 'auto' }, ctx('lookup then get_weather', false, false)), ['get_weather'], 'not parallel');
  });

  it('required / named / none, allowed names, and text after a tool result', () => {
    assert.deepEqual(names({ kind: 'required' }, ctx('hello')), ['get_weather']);
    assert.deepEqual(names({ kind: 'required' }, ctx('use lookup')), ['lookup']);
    assert.deepEqual(names({ kind: 'required', allowed: ['lookup'] }, ctx('hello')), ['lookup']);
    assert.deepEqual(names({ kind: 'named', name: 'lookup' }, ctx('get_weather')), ['lookup']);
    assert.deepEqual(names({ kind: 'none' }, ctx('use get_weather')), []);
    assert.deepEqual(names({ kind: 'required' }, ctx('', true)), [], 'a tool result is answered with text');
    assert.ok(mentions('call my-tool now', 'my-tool') && !mentions('call my-tool2', 'my-tool'));
  });

  it('argument pieces rebuild the JSON and never split a surrogate pair', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const json = JSON.stringify(v);
        const pieces = argPieces(json);
        assert.equal(pieces.join(''), json);
        for (const p of pieces) assert.ok(!/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p), 'a piece splits a pair');
      }),
    );
  });
});

/** Random JSON Schemas of the keywords schema-value.ts honours, always satisfiable. */
const schemaArb: fc.Arbitrary<Wire> = fc.letrec<{ schema: Wire; leaf: Wire; array: Wire; object: Wire; alt: Wire }>((tie) => ({
  schema: fc.oneof({ depthSize: 'small', maxDepth: 4 }, tie('leaf'), tie('array'), tie('object'), tie('alt')),
  leaf: fc.oneof(
    fc.tuple(fc.nat(6), fc.nat(12)).map(([a, b]) => ({ type: 'string', minLength: Math.min(a, b), maxLength: Math.max(a, b) })),
    fc.constantFrom('date-time', 'date', 'email', 'uri', 'uuid').map((format) => ({ type: 'string', format })),
    fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.nat(500), fc.integer({ min: 1, max: 10 }), fc.boolean()).map(([lo, w, m, useM]) =>
      ({ type: 'integer', minimum: lo, maximum: lo + w + 10, ...(useM ? { multipleOf: m } : {}) })),
    fc.tuple(fc.integer({ min: -100, max: 100 }), fc.integer({ min: 1, max: 100 }), fc.boolean()).map(([lo, w, ex]) =>
      ex ? { type: 'number', exclusiveMinimum: lo, exclusiveMaximum: lo + w } : { type: 'number', minimum: lo, maximum: lo + w }),
    fc.constant({ type: 'boolean' }),
    fc.constant({ type: ['string', 'null'] }),
    fc.uniqueArray(fc.oneof(fc.string(), fc.integer()), { minLength: 1, maxLength: 5 }).map((e) => ({ enum: e })),
    fc.jsonValue().map((c) => ({ const: c })),
  ),
  array: fc.tuple(tie('schema'), fc.nat(3), fc.nat(3), fc.boolean()).map(([items, a, b, unique]) =>
    unique
      ? { type: 'array', items: { type: 'integer', minimum: 0, maximum: 1000 }, minItems: a, uniqueItems: true }
      : { type: 'array', items, minItems: Math.min(a, b), maxItems: Math.max(a, b) }),
  object: fc.tuple(fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), tie('schema'), { maxKeys: 5 }), fc.boolean(), fc.boolean()).map(([properties, req, closed]) => ({
    type: 'object',
    properties,
    required: req ? Object.keys(properties) : Object.keys(properties).slice(0, 1),
    ...(closed ? { additionalProperties: false } : {}),
  })),
  alt: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }).map((b) => ({ anyOf: [...b, { type: 'null' }] })),
})).schema;

/** Gemini's spelling: upper-case type names. */
function upperTypes(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(upperTypes);
  if (typeof s !== 'object' || s === null) return s;
  const out: Wire = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === 'type' && typeof v === 'string' ? v.toUpperCase() : k === 'enum' || k === 'const' ? v : upperTypes(v);
  return out;
}

describe('sim tools: schema values', () => {
  it('fit random schemas (nested objects, arrays, enums, bounds, formats, anyOf), deterministically', () => {
    fc.assert(
      fc.property(schemaArb, fc.string(), fc.boolean(), (schema, seed, upper) => {
        const s = upper ? upperTypes(schema) : schema;
        const v = schemaValue(s, mulberry32(fnv1a(seed)));
        assert.deepEqual(schemaErrors(s, v), [], JSON.stringify({ s, v }));
        assert.deepEqual(schemaValue(s, mulberry32(fnv1a(seed))), v, 'same seed, same value');
      }),
      { numRuns: 400 },
    );
  });

  it('follow $ref / $defs, allOf and recursive schemas, and end', () => {
    const tree = {
      $defs: { node: { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['name', 'children'] } },
      allOf: [{ $ref: '#/$defs/node' }, { properties: { extra: { type: 'integer', minimum: 5, maximum: 5 } }, required: ['extra'] }],
    };
    for (let i = 0; i < 50; i++) {
      const v = schemaValue(tree, mulberry32(i));
      assert.deepEqual(schemaErrors(tree, v), [], JSON.stringify(v));
      assert.equal((v as Wire).extra, 5);
    }
  });
});

describe('sim text: stop sequences', () => {
  it('cut the text right before the first occurrence, across token boundaries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }), fc.option(fc.string(), { nil: undefined }), fc.nat(), fc.integer({ min: 1, max: 12 }), (n, seed, at, len) => {
        const text = simText(n, seed);
        const start = at % text.length;
        const seq = text.slice(start, start + len);
        const plan = planText(n, seed, [seq, 'no such sequence']);
        assert.equal(planString(plan), text.slice(0, text.indexOf(seq)));
        assert.equal(plan.cut?.seq, seq);
        assert.ok(plan.tokens <= n);
        assert.deepEqual(planText(n, seed, [seq]), plan, 'alone, the sequence cuts the same way');
        assert.equal(planString(planText(n, seed, ['no such sequence'])), text);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sim chat completions: tools, n and stop', () => {
  it('streams a tool call: name first, arguments in pieces that fit the schema, finish tool_calls, usage counts the pieces', async () => {
    const chunks = await streamChunks(chat('What is the weather in Paris? use get_weather', { seed: 7 }));
    assert.deepEqual(chunks[0]!.choices[0].delta.role, 'assistant');
    assert.equal(chunks[0]!.choices[0].delta.content, null);
    const calls = assembleCalls(chunks).get(0)!;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.name, 'get_weather');
    assert.ok(calls[0]!.pieces > 3, 'several pieces');
    assert.deepEqual(schemaErrors(WEATHER, JSON.parse(calls[0]!.arguments)), []);
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    assert.equal(withChoices.at(-1)!.choices[0].finish_reason, 'tool_calls');
    assert.equal(chunks.at(-1)!.usage.completion_tokens, calls[0]!.pieces);

    const whole = (await (await simPost(f, '/v1/chat/completions', chat('What is the weather in Paris? use get_weather', { seed: 7 }))).json()) as Wire;
    const msg = whole.choices[0].message;
    assert.equal(msg.content, null);
    assert.equal(msg.tool_calls[0].function.arguments, calls[0]!.arguments, 'the same arguments, streamed or not');
    assert.equal(whole.choices[0].finish_reason, 'tool_calls');
    assert.equal(whole.usage.completion_tokens, calls[0]!.pieces);
  });

  it('arguments depend on the seed, deterministically', async () => {
    const args = async (seed: number): Promise<string> =>
      ((await (await simPost(f, '/v1/chat/completions', chat('use get_weather', { seed }))).json()) as Wire).choices[0].message.tool_calls[0].function.arguments;
    assert.equal(await args(1), await args(1));
    assert.notEqual(await args(1), await args(2));
  });

  it('tool_choice: none → text, required → a call, named → that tool, parallel calls and parallel_tool_calls:false', async () => {
    const one = async (body: Record<string, unknown>): Promise<Wire> => ((await (await simPost(f, '/v1/chat/completions', body)).json()) as Wire).choices[0];
    assert.equal((await one(chat('use get_weather', { tool_choice: 'none' }))).message.content, simText(16));
    assert.equal((await one(chat('hello'))).message.content, simText(16), 'auto without a mention is text');
    assert.equal((await one(chat('hello', { tool_choice: 'required' }))).message.tool_calls[0].function.name, 'get_weather');
    const named = await one(chat('get_weather please', { tool_choice: { type: 'function', function: { name: 'lookup' } } }));
    assert.deepEqual(named.message.tool_calls.map((c: Wire) => c.function.name), ['lookup']);
    const both = await one(chat('use lookup and get_weather'));
    assert.deepEqual(both.message.tool_calls.map((c: Wire) => c.function.name), ['get_weather', 'lookup']);
    const allowed = await one(chat('hello', { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'lookup' } }] } } }));
    assert.deepEqual(allowed.message.tool_calls.map((c: Wire) => c.function.name), ['lookup']);
    const single = await one(chat('use lookup and get_weather', { parallel_tool_calls: false }));
    assert.equal(single.message.tool_calls.length, 1);

    const streamed = assembleCalls(await streamChunks(chat('use lookup and get_weather'))).get(0)!;
    assert.deepEqual(streamed.map((c) => c.name), ['get_weather', 'lookup']);
    for (const c of streamed) assert.deepEqual(schemaErrors(TOOLS.find((t) => t.function.name === c.name)!.function.parameters, JSON.parse(c.arguments)), []);
  });

  it('answers a tool result with text', async () => {
    const body = chat('use get_weather', { tool_choice: 'required' });
    const first = ((await (await simPost(f, '/v1/chat/completions', body)).json()) as Wire).choices[0].message;
    const messages = [...(body.messages as unknown[]), first, { role: 'tool', tool_call_id: first.tool_calls[0].id, content: '{"temp": 21}' }];
    const after = ((await (await simPost(f, '/v1/chat/completions', { ...body, messages })).json()) as Wire).choices[0];
    assert.equal(after.finish_reason, 'stop');
    assert.equal(after.message.content, simText(16));
  });

  it('n choices, each with its index and its own text, streamed and not; usage adds them up', async () => {
    const body = { model: 'sim-1', messages: [{ role: 'user', content: 'hi' }], n: 3, max_tokens: 5, seed: 42 };
    const whole = (await (await simPost(f, '/v1/chat/completions', body)).json()) as Wire;
    assert.deepEqual(whole.choices.map((c: Wire) => c.index), [0, 1, 2]);
    assert.deepEqual(whole.choices.map((c: Wire) => c.message.content), [simText(5, '42'), simText(5, '42#1'), simText(5, '42#2')]);
    assert.equal(whole.usage.completion_tokens, 15);
    const chunks = await streamChunks(body);
    const texts = ['', '', ''];
    const finishes: string[] = [];
    for (const c of chunks) {
      for (const ch of c.choices) {
        texts[ch.index] += ch.delta.content ?? '';
        if (ch.finish_reason) finishes[ch.index] = ch.finish_reason;
      }
    }
    assert.deepEqual(texts, whole.choices.map((c: Wire) => c.message.content));
    assert.deepEqual(finishes, ['length', 'length', 'length']);
    assert.equal(chunks.at(-1)!.usage.completion_tokens, 15);
    const calls = assembleCalls(await streamChunks({ ...chat('use lookup'), n: 2 }));
    assert.deepEqual([...calls.keys()], [0, 1]);
  });

  it('stop cuts the text before the stop sequence (finish stop)', async () => {
    const text = simText(16);
    const seq = text.slice(20, 26);
    const c = ((await (await simPost(f, '/v1/chat/completions', { model: 'sim-1', messages: [{ role: 'user', content: 'x' }], stop: [seq], max_tokens: 16 })).json()) as Wire).choices[0];
    assert.equal(c.message.content, text.slice(0, text.indexOf(seq)));
    assert.equal(c.finish_reason, 'stop');
  });

  it('rejects what OpenAI rejects: tool_choice without tools, an unknown named tool, bad tools, n, stop', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ model: 'sim-1', messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' }, 'tool_choice'],
      [chat('x', { tool_choice: { type: 'function', function: { name: 'nope' } } }), 'tool_choice'],
      [chat('x', { tool_choice: 'sometimes' }), 'tool_choice'],
      [chat('x', { tools: [{ type: 'function' }] }), 'tools[0]'],
      [chat('x', { tools: [] }), 'tools'],
      [chat('x', { n: 0 }), 'n'],
      [chat('x', { n: 1.5 }), 'n'],
      [chat('x', { stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop'],
    ];
    for (const [body, param] of cases) {
      const res = await simPost(f, '/v1/chat/completions', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as Wire).error.param, param);
    }
  });
});
