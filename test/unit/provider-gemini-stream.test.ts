// The Gemini stream translator (src/providers/gemini/stream.ts) on documented event sequences: fed
// as events, and as SSE bytes (LF and CRLF framing) through the relay's frame splitter split at
// every byte position. The harness (provider-gemini-harness.test.ts) checks OpenAI's chunk rules
// and reassembles the messages.
import assert from 'node:assert/strict';
import { GeminiStreamTranslator } from '../../src/providers/gemini/stream.js';
import { CTX, GENERATED, Recorder, assemble, normalised, resp, translate, translateBytes, usage, wire } from './provider-gemini-harness.test.js';

const TEXT = [resp([{ text: 'Hel' }], usage(5)), resp([{ text: 'lo, ' }, { text: 'wörld 🚀' }]), resp([{ text: '!' }], usage(5, 4), { finishReason: 'STOP' })];
const THOUGHTS = [
  resp([{ text: 'Weighing ', thought: true }]),
  resp([{ text: 'the options.', thought: true }, { text: 'It is ' }], usage(12, 1, { thoughtsTokenCount: 30, cachedContentTokenCount: 8 })),
  resp([{ text: '42.', thoughtSignature: 'c2ln' }], usage(12, 3, { thoughtsTokenCount: 30, cachedContentTokenCount: 8 }), { finishReason: 'STOP' }),
];
const CALLS = [
  resp([{ text: 'Checking.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'fc-1' }, thoughtSignature: 'c2ln' }]),
  resp([{ functionCall: { name: 'get_weather', args: { city: 'Zürich "ZH"' } } }, { functionCall: { name: 'get_time', id: '' } }], usage(20, 15), { finishReason: 'STOP' }),
];
const USAGE_LATE = [
  resp([{ text: 'a' }], usage(7, 1)),
  resp([{ text: 'b' }]),
  resp([{ text: 'c' }], usage(7, 3)),
  resp([{ text: '' }], {}, { finishReason: 'STOP' }),
  { candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, index: 0 }], ...usage(7, 6, { thoughtsTokenCount: 2, toolUsePromptTokenCount: 3 }) },
];
const TWO = [
  { candidates: [{ content: { parts: [{ text: 'A1 ' }] } }, { content: { parts: [{ text: 'B1 ' }] }, index: 1 }] },
  { candidates: [{ content: { parts: [{ text: 'A2' }] }, finishReason: 'STOP' }, { content: { parts: [{ text: 'B2' }] }, index: 1 }] },
  { candidates: [{ content: { parts: [{ text: ' B3' }] }, index: 1, finishReason: 'MAX_TOKENS' }], ...usage(3, 9) },
];

describe('Gemini stream translator', () => {
  it('text: one message, model from modelVersion, usage once', () => {
    const run = translate(TEXT);
    assert.equal(run.model, 'gemini-2.5-flash');
    assert.deepEqual(run.choices, { 0: { content: 'Hello, wörld 🚀!', finish: 'stop' } });
    assert.deepEqual(run.usage, { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    assert.ok(run.completed);
    assert.equal(run.payloads, 5, 'one chunk per event (parts merged), a finish chunk, a usage chunk');
  });

  it('thought parts become reasoning_content; thoughts count as completion and reasoning tokens, cached ones are reported', () => {
    const run = translate(THOUGHTS);
    assert.deepEqual(run.choices[0], { content: 'It is 42.', reasoning: 'Weighing the options.', finish: 'stop' });
    assert.deepEqual(run.usage, {
      prompt_tokens: 12,
      completion_tokens: 33,
      total_tokens: 45,
      prompt_tokens_details: { cached_tokens: 8 },
      completion_tokens_details: { reasoning_tokens: 30 },
    });
  });

  it('function calls: one chunk each, indexes 0.., Gemini ids kept, missing or empty ones generated, finish tool_calls', () => {
    const run = translate(CALLS);
    const calls = run.choices[0]!.tool_calls!;
    assert.equal(run.choices[0]!.content, 'Checking.');
    assert.equal(run.choices[0]!.finish, 'tool_calls');
    assert.deepEqual(calls.map((c) => [c.name, JSON.parse(c.arguments)]), [['get_weather', { city: 'Paris' }], ['get_weather', { city: 'Zürich "ZH"' }], ['get_time', {}]]);
    assert.equal(calls[0]!.id, 'fc-1');
    assert.match(calls[1]!.id, GENERATED);
    assert.match(calls[2]!.id, GENERATED);
    assert.notEqual(calls[1]!.id, calls[2]!.id);
  });

  it('usage is cumulative: the latest wins, events without it do not erase it, a usage-only last event counts', () => {
    const run = translate(USAGE_LATE);
    assert.deepEqual(run.choices[0], { content: 'abc', finish: 'stop' });
    assert.deepEqual(run.usage, { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18, completion_tokens_details: { reasoning_tokens: 2 } });
    assert.ok(run.completed);
  });

  it('two candidates are two choices (a missing index is 0), each finished once, in index order', () => {
    const run = translate(TWO);
    assert.deepEqual(run.choices, { 0: { content: 'A1 A2', finish: 'stop' }, 1: { content: 'B1 B2 B3', finish: 'length' } });
    assert.ok(run.completed);
  });

  it('an error event fails the stream, mapped like an HTTP error; nothing after it is emitted', () => {
    const err = { error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } };
    const run = translate([TEXT[0], err, TEXT[2]]);
    assert.deepEqual(run.choices, { 0: { content: 'Hel', finish: null } });
    assert.equal(run.completed, false);
    assert.deepEqual([run.error?.status, run.error?.type, run.error?.code, run.error?.message], [429, 'rate_limit_error', 'resource_exhausted', err.error.message]);
    const first = translate([{ modelVersion: 'gemini-2.5-flash' }, { error: { code: 500, message: 'Internal error', status: 'INTERNAL' } }]);
    assert.equal(first.payloads, 0, 'an error at the start leaves nothing sent (not even the role)');
    assert.equal(first.error?.status, 500);
  });

  it('a body that ends before every finish reason is not completed (the relay reports truncation)', () => {
    for (const cut of [TEXT.slice(0, 2), TWO.slice(0, 2), []]) {
      const run = translate(cut);
      assert.equal(run.completed, false);
      assert.equal(run.usage, undefined);
      for (const m of Object.values(run.choices)) assert.equal(m.finish, null);
    }
  });

  it('finish reasons: filters are content_filter, MAX_TOKENS length even after calls, malformed calls stop', () => {
    const finish = (reason: string, parts: unknown[] = [{ text: 'x' }]) => translate([resp(parts, {}, { finishReason: reason })]).choices[0]!.finish;
    for (const r of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']) assert.equal(finish(r), 'content_filter', r);
    assert.equal(finish('MAX_TOKENS', [{ functionCall: { name: 'f', args: {} } }]), 'length');
    for (const r of ['MALFORMED_FUNCTION_CALL', 'OTHER', 'LANGUAGE', 'SOMETHING_NEW']) assert.equal(finish(r), 'stop', r);
    assert.equal(translate([resp([{ text: 'x' }], {}, { finishReason: 'FINISH_REASON_UNSPECIFIED' })]).completed, false);
  });

  it('a blocked prompt (no candidates, promptFeedback.blockReason) is choice 0 with content_filter', () => {
    const run = translate([{ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, ...usage(4), modelVersion: 'gemini-2.0-flash' }]);
    assert.deepEqual(run.choices, { 0: { content: null, finish: 'content_filter' } });
    assert.deepEqual(run.usage, { prompt_tokens: 4, completion_tokens: 0, total_tokens: 4 });
    assert.ok(run.completed);
  });

  it('ignores data that is not a response object; an empty first event sends nothing; no modelVersion means the context model', () => {
    const t = new GeminiStreamTranslator(CTX);
    const rec = new Recorder();
    for (const data of ['[DONE]', 'not json', '42', '[1]', JSON.stringify({ candidates: [{ content: { parts: [{ text: '' }] } }] })]) t.event({ data }, rec);
    assert.equal(rec.payloads.length, 0);
    t.event({ data: JSON.stringify({ candidates: [{ content: { parts: [{ text: 'hi' }] }, finishReason: 'STOP' }] }) }, rec);
    t.end(rec);
    const run = assemble(rec);
    assert.equal(run.model, CTX.model);
    assert.deepEqual(run.choices, { 0: { content: 'hi', finish: 'stop' } });
    assert.equal(run.usage, undefined, 'no usage seen, no usage chunk');
    assert.ok(run.completed);
  });

  for (const [name, responses] of Object.entries({ TEXT, THOUGHTS, CALLS, USAGE_LATE, TWO })) {
    it(`${name} as SSE bytes split at every position (LF and CRLF, last blank line or not) reassembles the same`, () => {
      const expected = normalised(translate(responses));
      for (const eol of ['\n', '\r\n'] as const) {
        for (const lastBlank of [true, false]) {
          const bytes = wire(responses, eol, lastBlank);
          for (let at = 0; at <= bytes.length; at++) assert.deepEqual(normalised(translateBytes(bytes, [at])), expected, `${JSON.stringify(eol)} split at ${at}`);
          const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
          assert.deepEqual(normalised(translateBytes(bytes, everyByte)), expected, 'one byte per read');
        }
      }
    });
  }
});
