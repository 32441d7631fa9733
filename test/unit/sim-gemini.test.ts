import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createSimFetch } from '../../src/sim/handler.js';
import { createSimServer } from '../../src/sim/server.js';
import { simText } from '../../src/sim/text.js';
import { schemaErrors, simPost, sseEvents, type SimFetchFn, type Wire } from '../helpers/sim-check.js';

const f = createSimFetch({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });
const MODEL = '/gemini/v1beta/models/sim-gemini-1';

/** Gemini's OpenAPI-subset schema spelling. */
const PARAMS = {
  type: 'OBJECT',
  properties: {
    city: { type: 'STRING' },
    days: { type: 'INTEGER', minimum: 1, maximum: 5 },
    unit: { type: 'STRING', format: 'enum', enum: ['C', 'F'] },
    stops: { type: 'ARRAY', items: { type: 'NUMBER' }, minItems: '2' },
  },
  required: ['city', 'days', 'unit', 'stops'],
};
const TOOLS = [{ functionDeclarations: [{ name: 'get_weather', parameters: PARAMS }, { name: 'lookup', parametersJsonSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }] }, { googleSearch: {} }];

function req(text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { contents: [{ role: 'user', parts: [{ text }] }], ...extra };
}

interface Cand {
  index: number;
  thought: string;
  text: string;
  calls: Wire[];
  finishReason: string | undefined;
  signature?: string;
}

function addParts(c: Cand, parts: Wire[]): void {
  assert.ok(Array.isArray(parts) && parts.length > 0, 'parts');
  for (const p of parts) {
    if (p.thought === true) {
      assert.equal(c.text + JSON.stringify(c.calls), '[]', 'thoughts come first');
      c.thought += p.text;
    } else if (p.functionCall) {
      assert.equal(typeof p.functionCall.name, 'string');
      c.calls.push(p.functionCall);
      if (p.thoughtSignature) c.signature = p.thoughtSignature;
    } else {
      assert.equal(typeof p.text, 'string');
      c.text += p.text;
    }
  }
}

function checkUsage(u: Wire): void {
  assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0));
}

/** Check GenerateContentResponse chunks and rebuild their candidates, in index order. */
function rebuild(chunks: Wire[]): { cands: Cand[]; usage: Wire; withoutUsage: number } {
  const byIndex = new Map<number, Cand>();
  let last: Wire | undefined;
  let withoutUsage = 0;
  for (const [i, ch] of chunks.entries()) {
    assert.equal(ch.modelVersion, 'sim-gemini-1');
    assert.equal(ch.responseId, chunks[0]!.responseId);
    assert.ok(ch.candidates.length > 0);
    for (const cd of ch.candidates) {
      assert.equal(cd.content.role, 'model');
      assert.ok(Number.isInteger(cd.index));
      const c = byIndex.get(cd.index) ?? { index: cd.index, thought: '', text: '', calls: [], finishReason: undefined };
      byIndex.set(cd.index, c);
      assert.equal(c.finishReason, undefined, 'nothing after a candidate finished');
      addParts(c, cd.content.parts);
      c.finishReason = cd.finishReason;
    }
    if (ch.usageMetadata === undefined) withoutUsage++;
    else {
      checkUsage(ch.usageMetadata);
      if (last) assert.ok(ch.usageMetadata.candidatesTokenCount >= last.candidatesTokenCount, 'cumulative usage');
      last = ch.usageMetadata;
    }
    if (i === chunks.length - 1) assert.ok(ch.usageMetadata, 'the last chunk has the usage');
  }
  const cands = [...byIndex.values()].sort((a, b) => a.index - b.index);
  for (const c of cands) assert.ok(c.finishReason === 'STOP' || c.finishReason === 'MAX_TOKENS', `finishReason ${c.finishReason}`);
  return { cands, usage: last!, withoutUsage };
}

async function stream(body: Record<string, unknown>, fetchFn: SimFetchFn = f): Promise<{ cands: Cand[]; usage: Wire; withoutUsage: number }> {
  const res = await simPost(fetchFn, MODEL + ':streamGenerateContent?alt=sse', body);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  for (const fr of text.slice(0, -2).split('\n\n')) assert.match(fr, /^data: \{[^\n]+\}$/, 'one data line per frame, no [DONE]');
  return rebuild(sseEvents(text).map((e) => JSON.parse(e.data) as Wire));
}

/** Stream and generate; both must carry the same candidates and final usage. */
async function both(body: Record<string, unknown>): Promise<{ cands: Cand[]; usage: Wire; withoutUsage: number }> {
  const s = await stream(body);
  const res = await simPost(f, MODEL + ':generateContent', body);
  assert.equal(res.status, 200);
  const w = rebuild([(await res.json()) as Wire]);
  assert.deepEqual(s.cands, w.cands);
  assert.deepEqual(s.usage, w.usage);
  return s;
}

describe('sim gemini: generateContent and streamGenerateContent', () => {
  it('streams text as data-only SSE chunks; usage cumulative, absent from some chunks, whole at the end', async () => {
    const { cands, usage, withoutUsage } = await both(req('Hello there, simulator!'));
    assert.equal(cands.length, 1);
    assert.deepEqual([cands[0]!.text, cands[0]!.finishReason], [simText(16), 'STOP']);
    assert.deepEqual([usage.promptTokenCount, usage.candidatesTokenCount, usage.totalTokenCount], [6, 16, 22]);
    assert.ok(withoutUsage > 0, 'some intermediate chunks leave usageMetadata out');
  });

  it('maxOutputTokens ends the text with MAX_TOKENS; seed seeds it; stopSequences cut it (STOP)', async () => {
    const max = (await both(req('hi', { generationConfig: { maxOutputTokens: 5, seed: 9 } }))).cands[0]!;
    assert.deepEqual([max.text, max.finishReason], [simText(5, '9'), 'MAX_TOKENS']);
    const text = simText(16);
    const seq = text.slice(25, 31);
    const cut = (await both(req('hi', { generation_config: { stop_sequences: [seq] } }))).cands[0]!;
    assert.deepEqual([cut.text, cut.finishReason], [text.slice(0, text.indexOf(seq)), 'STOP']);
  });

  it('candidateCount: candidates with their own index and text, usage over all of them', async () => {
    const { cands, usage } = await both(req('hi', { generationConfig: { candidateCount: 3, maxOutputTokens: 4, seed: 'x' } }));
    assert.deepEqual(cands.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(cands.map((c) => c.text), [simText(4, 'x'), simText(4, 'x#1'), simText(4, 'x#2')]);
    assert.equal(usage.candidatesTokenCount, 12);
  });

  it('thinking: thought parts first with includeThoughts, thoughtsTokenCount either way, none with budget 0', async () => {
    const shown = await both(req('think', { generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 3 } } }));
    assert.deepEqual([shown.cands[0]!.thought, shown.cands[0]!.text], [simText(3, 'thinking:'), simText(16)]);
    assert.equal(shown.usage.thoughtsTokenCount, 3);
    const hidden = await both(req('think', { generationConfig: { thinkingConfig: {} } }));
    assert.equal(hidden.cands[0]!.thought, '');
    assert.equal(hidden.usage.thoughtsTokenCount, 16);
    const off = await both(req('think', { generationConfig: { thinkingConfig: { thinkingBudget: 0, includeThoughts: true } } }));
    assert.equal(off.cands[0]!.thought, '');
    assert.equal(off.usage.thoughtsTokenCount, undefined);
  });

  it('tools: functionCall parts whose args fit the declared schema, finishReason STOP', async () => {
    const { cands, usage } = await both(req('Weather in Rome? use get_weather', { tools: TOOLS }));
    const c = cands[0]!;
    assert.equal(c.text, '');
    assert.equal(c.finishReason, 'STOP');
    assert.deepEqual(c.calls.map((x) => x.name), ['get_weather']);
    assert.deepEqual(schemaErrors(PARAMS, c.calls[0]!.args), []);
    assert.equal(usage.candidatesTokenCount, Math.ceil(Array.from(JSON.stringify(c.calls[0]!.args)).length / 4), 'one token per argument piece');
  });

  it('functionCallingConfig NONE / ANY / allowedFunctionNames, parallel calls, a signed call when thinking, text after a functionResponse', async () => {
    const names = async (body: Record<string, unknown>): Promise<string[]> => (await both(body)).cands[0]!.calls.map((x) => x.name);
    assert.deepEqual(await names(req('hello', { tools: TOOLS })), []);
    assert.deepEqual(await names(req('use get_weather', { tools: TOOLS, toolConfig: { functionCallingConfig: { mode: 'NONE' } } })), []);
    assert.deepEqual(await names(req('hello', { tools: TOOLS, toolConfig: { functionCallingConfig: { mode: 'ANY' } } })), ['get_weather']);
    assert.deepEqual(await names(req('hello', { tools: TOOLS, tool_config: { function_calling_config: { mode: 'ANY', allowed_function_names: ['lookup'] } } })), ['lookup']);
    assert.deepEqual(await names(req('lookup and get_weather', { tools: TOOLS })), ['get_weather', 'lookup']);
    const thinking = (await both(req('use lookup', { tools: TOOLS, generationConfig: { thinkingConfig: { thinkingBudget: 2 } } }))).cands[0]!;
    assert.equal(typeof thinking.signature, 'string');

    const call = (await both(req('use lookup', { tools: TOOLS }))).cands[0]!.calls[0]!;
    const contents = [
      { role: 'user', parts: [{ text: 'use lookup' }] },
      { role: 'model', parts: [{ functionCall: call }] },
      { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { result: 'found' } } }] },
    ];
    const after = (await both({ contents, tools: TOOLS, toolConfig: { functionCallingConfig: { mode: 'ANY' } } })).cands[0]!;
    assert.deepEqual([after.text, after.calls], [simText(16), []]);
  });

  it('streams a JSON array without alt=sse', async () => {
    const res = await simPost(f, MODEL + ':streamGenerateContent', req('hi', { generationConfig: { maxOutputTokens: 3 } }));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const { cands } = rebuild(JSON.parse(await res.text()) as Wire[]);
    assert.equal(cands[0]!.text, simText(3));
  });

  it('errors in Google shape: no contents, unknown fields, bad candidateCount, bad JSON, unknown method', async () => {
    const cases: [Promise<Response>, number, string, RegExp][] = [
      [simPost(f, MODEL + ':generateContent', {}), 400, 'INVALID_ARGUMENT', /contents/],
      [simPost(f, MODEL + ':generateContent', req('x', { messages: [] })), 400, 'INVALID_ARGUMENT', /Unknown name "messages"/],
      [simPost(f, MODEL + ':generateContent', req('x', { generationConfig: { candidateCount: 9 } })), 400, 'INVALID_ARGUMENT', /candidate_count/],
      [simPost(f, MODEL + ':generateContent', req('x', { generationConfig: { maxOutputTokens: 0 } })), 400, 'INVALID_ARGUMENT', /max_output_tokens/],
      [simPost(f, MODEL + ':streamGenerateContent?alt=sse', '{'), 400, 'INVALID_ARGUMENT', /JSON/],
      [simPost(f, MODEL + ':embedContent', req('x')), 404, 'NOT_FOUND', /embedContent/],
    ];
    for (const [p, status, code, message] of cases) {
      const res = await p;
      assert.equal(res.status, status);
      const body = (await res.json()) as Wire;
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'status']);
      assert.deepEqual([body.error.code, body.error.status], [status, code]);
      assert.match(body.error.message, message);
    }
  });
});

describe('sim gemini: models', () => {
  it('lists models with pageSize / nextPageToken paging, and looks one up', async () => {
    const all = (await (await f('http://sim.local/gemini/v1beta/models')).json()) as Wire;
    assert.deepEqual(all.models.map((m: Wire) => m.name), ['models/sim-gemini-1', 'models/sim-gemini-fast']);
    for (const m of all.models) assert.deepEqual(m.supportedGenerationMethods, ['generateContent', 'streamGenerateContent']);
    assert.equal(all.nextPageToken, undefined);
    const p1 = (await (await f('http://sim.local/gemini/v1beta/models?pageSize=1')).json()) as Wire;
    assert.deepEqual([p1.models.length, p1.nextPageToken], [1, '1']);
    const p2 = (await (await f(`http://sim.local/gemini/v1beta/models?pageSize=1&pageToken=${p1.nextPageToken}`)).json()) as Wire;
    assert.deepEqual([p2.models[0].name, p2.nextPageToken], ['models/sim-gemini-fast', undefined]);
    assert.equal(((await (await f('http://sim.local/gemini/v1beta/models/sim-gemini-fast')).json()) as Wire).name, 'models/sim-gemini-fast');
    const missing = await f('http://sim.local/gemini/v1beta/models/gemini-9');
    assert.deepEqual([missing.status, ((await missing.json()) as Wire).error.status], [404, 'NOT_FOUND']);
  });
});

describe('sim gemini: timing and the http server', () => {
  it('paces chunks by ttftMs and tokenDelayMs; sim-gemini-fast ignores them', async () => {
    const slow = createSimFetch({ ttftMs: 40, tokenDelayMs: 10, defaultMaxTokens: 4 });
    const t0 = performance.now();
    const reader = (await simPost(slow, MODEL + ':streamGenerateContent?alt=sse', req('hi'))).body!.getReader();
    const arrivals: number[] = [];
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - t0);
    }
    assert.equal(arrivals.length, 4);
    assert.ok(arrivals[0]! >= 38);
    for (let i = 1; i < 4; i++) assert.ok(arrivals[i]! - arrivals[i - 1]! >= 8, `gap ${i}`);
    const fast = createSimFetch({ ttftMs: 5000, tokenDelayMs: 1000, defaultMaxTokens: 4 });
    const t1 = performance.now();
    await (await simPost(fast, '/gemini/v1beta/models/sim-gemini-fast:generateContent', req('hi'))).json();
    assert.ok(performance.now() - t1 < 1000);
  });

  it('the standalone server serves the Gemini paths', async () => {
    const server = createSimServer({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/gemini/v1beta`;
      const res = await fetch(base + '/models/sim-gemini-1:streamGenerateContent?alt=sse', { method: 'POST', body: JSON.stringify(req('hi')) });
      const { cands } = rebuild(sseEvents(await res.text()).map((e) => JSON.parse(e.data) as Wire));
      assert.equal(cands[0]!.text, simText(16));
      assert.ok(((await (await fetch(base + '/models?pageSize=10')).json()) as Wire).models.length >= 2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
