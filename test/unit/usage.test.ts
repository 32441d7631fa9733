import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import {
  EXACT_CHARS_PER_ESTIMATE,
  IMAGE_TOKENS_DEFAULT,
  MAX_RUN_CHARS,
  IMAGE_TOKENS_LOW,
  REPLY_PRIMING_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_TOOL_CALL,
  createTokenEstimator,
  encodingFor,
  type TokenEstimator,
} from '../../src/usage/estimate.js';
import { contentFromBody, inspectChunk, readUsage, usageFromBody } from '../../src/usage/chunk.js';
import { requestUsage, spliceUsageRequest } from '../../src/usage/stream-options.js';
import { UsageTracker } from '../../src/usage/tracker.js';

const estimator = createTokenEstimator();

/** OpenAI-shaped stream chunks, as an upstream sends them with include_usage on. */
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  usage: null,
});
const usageChunk = (prompt: number, completion: number) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o',
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

/** An estimator that counts its calls, to show per-chunk work never tokenises. */
function spyEstimator(): TokenEstimator & { calls: number } {
  const spy = {
    calls: 0,
    countText: (t: string, m: string) => (spy.calls++, estimator.countText(t, m)),
    countMessages: (x: unknown, m: string) => (spy.calls++, estimator.countMessages(x, m)),
    countPrompt: (b: Record<string, unknown>, m: string) => (spy.calls++, estimator.countPrompt(b, m)),
    preload: () => {},
  };
  return spy;
}

describe('usage: token estimation', () => {
  it('picks o200k_base for the gpt-4o/4.1/o-series/gpt-5 families and cl100k_base otherwise', () => {
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'chatgpt-4o-latest', 'gpt-4.1-nano', 'o1', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5.2-codex', 'openai/gpt-4o']) {
      assert.equal(encodingFor(m), 'o200k_base', m);
    }
    for (const m of ['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo', 'text-embedding-3-small', 'llama-3.1-8b', 'sim-echo', 'o10', '']) {
      assert.equal(encodingFor(m), 'cl100k_base', m);
    }
  });

  it("matches gpt-tokenizer's own counts for a known text in both encodings", () => {
    const text = 'Usage accounting, proven against a real Prometheus: naïve café — 東京 🚀 x=1;';
    assert.equal(estimator.countText(text, 'gpt-4o'), o200k(text));
    assert.equal(estimator.countText(text, 'gpt-4'), cl100k(text));
    assert.equal(estimator.countText('hello world', 'gpt-4o'), 2);
    assert.equal(estimator.countText('', 'gpt-4o'), 0);
  });

  it('counts special-token markers typed by a caller as text instead of throwing', () => {
    assert.ok(estimator.countText('a <|endoftext|> b <|im_start|>', 'gpt-4o') > 5);
  });

  // openai-cookbook "How to count tokens with tiktoken": the API reported 129 prompt tokens for
  // these messages on gpt-3.5-turbo-0613 / gpt-4-0613 and 124 on gpt-4o / gpt-4o-mini.
  it("reproduces the cookbook's API-reported chat counts (129 on cl100k, 124 on o200k)", () => {
    const messages = [
      { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
      { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
      { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
      { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
      { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
      { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
    ];
    assert.equal(estimator.countMessages(messages, 'gpt-4-0613'), 129);
    assert.equal(estimator.countMessages(messages, 'gpt-4o'), 124);
  });

  it('counts content-part arrays: text parts by tokens, images as a fixed amount', () => {
    const parts = [
      { type: 'text', text: 'hello world' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
    ];
    const user = o200k('user');
    const expected = REPLY_PRIMING_TOKENS + TOKENS_PER_MESSAGE + user + 2 + IMAGE_TOKENS_LOW + IMAGE_TOKENS_DEFAULT;
    assert.equal(estimator.countMessages([{ role: 'user', content: parts }], 'gpt-4o'), expected);
  });

  it('counts assistant tool calls (name + arguments + framing) and tool results', () => {
    const messages = [
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '{"temp":21}' },
    ];
    const expected =
      REPLY_PRIMING_TOKENS +
      2 * TOKENS_PER_MESSAGE +
      o200k('assistant') +
      TOKENS_PER_TOOL_CALL +
      o200k('get_weather') +
      o200k('{"city":"Paris"}') +
      o200k('tool') +
      o200k('{"temp":21}');
    assert.equal(estimator.countMessages(messages, 'gpt-4o'), expected);
  });

  it('bounds its work: a 100 KB run of one letter (6 s in one BPE piece) counts in milliseconds, the same', () => {
    const run = 'a'.repeat(100_000);
    const started = performance.now();
    const n = estimator.countText(run, 'gpt-4o');
    assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
    assert.equal(n, (100_000 / MAX_RUN_CHARS) * o200k('a'.repeat(MAX_RUN_CHARS)));
  });

  it('never cuts a long run between the halves of a surrogate pair', () => {
    const emoji = '🚀'.repeat(MAX_RUN_CHARS); // 512 UTF-16 units, one run
    const pieces = o200k('🚀'.repeat(MAX_RUN_CHARS / 2)) * 2;
    assert.equal(estimator.countText(emoji, 'gpt-4o'), pieces);
    assert.equal(estimator.countText('x' + emoji, 'gpt-4o') > 0, true);
  });

  it('extrapolates beyond its exact budget from the ratio it measured', () => {
    const sentence = 'The quick brown fox jumps over the lazy dog. ';
    const text = sentence.repeat(Math.ceil((3 * EXACT_CHARS_PER_ESTIMATE) / sentence.length));
    const exact = o200k(text);
    const estimate = estimator.countText(text, 'gpt-4o');
    assert.ok(Math.abs(estimate - exact) / exact < 0.01, `${estimate} vs ${exact}`);
    // The budget is per estimate: a prompt of many messages is bounded as a whole.
    const messages = Array.from({ length: 8 }, () => ({ role: 'user', content: text.slice(0, EXACT_CHARS_PER_ESTIMATE / 2) }));
    const started = performance.now();
    const total = estimator.countMessages(messages, 'gpt-4o');
    assert.ok(performance.now() - started < 500);
    const expected = REPLY_PRIMING_TOKENS + 8 * (TOKENS_PER_MESSAGE + 1) + 8 * o200k(text.slice(0, EXACT_CHARS_PER_ESTIMATE / 2));
    assert.ok(Math.abs(total - expected) / expected < 0.01, `${total} vs ${expected}`);
  });

  it('preload() loads tables up front; counting afterwards is unchanged', () => {
    const e = createTokenEstimator();
    e.preload('gpt-4o');
    e.preload();
    assert.equal(e.countText('hello world', 'gpt-4'), 2);
  });

  it('ignores what is not a message list', () => {
    for (const x of [undefined, null, 'hi', 42, {}]) assert.equal(estimator.countMessages(x, 'gpt-4o'), 0);
    assert.equal(estimator.countMessages([null, 1, 'x'], 'gpt-4o'), REPLY_PRIMING_TOKENS);
  });

  it('countPrompt reads every endpoint shape: messages + tools, prompt, input (text or token ids), instructions', () => {
    const m = 'gpt-4o';
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    assert.equal(
      estimator.countPrompt({ messages: [{ role: 'user', content: 'hi' }], tools }, m),
      estimator.countMessages([{ role: 'user', content: 'hi' }], m) + o200k(JSON.stringify(tools)),
    );
    assert.equal(estimator.countPrompt({ prompt: 'hello world' }, m), 2);
    assert.equal(estimator.countPrompt({ prompt: ['hello world', 'hello world'] }, m), 4);
    assert.equal(estimator.countPrompt({ prompt: [1, 2, 3] }, m), 3);
    assert.equal(estimator.countPrompt({ input: [[1, 2], [3]] }, m), 3);
    assert.equal(estimator.countPrompt({ input: 'hello world', instructions: 'hello world' }, m), 4);
    const items = [{ role: 'user', content: [{ type: 'input_text', text: 'hello world' }] }];
    assert.equal(estimator.countPrompt({ input: items }, m), TOKENS_PER_MESSAGE + o200k('user') + 2);
    assert.equal(estimator.countPrompt({ model: m }, m), 0);
  });
});

describe('usage: inspecting stream chunks', () => {
  it('reads delta content; no usage; not usage-only', () => {
    assert.deepEqual(inspectChunk(chunk({ content: 'Hel' })), { usage: null, content: 'Hel', finishReason: null, usageOnly: false });
  });

  it('treats a role-only first chunk as no content', () => {
    assert.equal(inspectChunk(chunk({ role: 'assistant', content: '' })).content, '');
  });

  it('reports the finish reason', () => {
    assert.equal(inspectChunk(chunk({}, 'length')).finishReason, 'length');
  });

  it('recognises the usage-only chunk (choices: [], full usage)', () => {
    assert.deepEqual(inspectChunk(usageChunk(12, 34)), { usage: { prompt: 12, completion: 34, cachedPrompt: 0 }, content: '', finishReason: null, usageOnly: true });
  });

  it('takes `usage: null` with `choices: []` in its stride: nothing, not usage-only', () => {
    const obs = inspectChunk({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: null });
    assert.deepEqual(obs, { usage: null, content: '', finishReason: null, usageOnly: false });
  });

  it('reads usage carried on a content chunk, which must not be dropped', () => {
    const c = { ...chunk({ content: 'end' }, 'stop'), usage: { prompt_tokens: 5, completion_tokens: 7 } };
    assert.deepEqual(inspectChunk(c), { usage: { prompt: 5, completion: 7, cachedPrompt: 0 }, content: 'end', finishReason: 'stop', usageOnly: false });
  });

  it('counts reasoning, refusals, tool-call names and argument fragments as completion text', () => {
    assert.equal(inspectChunk(chunk({ reasoning_content: 'think ' })).content, 'think ');
    assert.equal(inspectChunk(chunk({ reasoning: 'hmm' })).content, 'hmm');
    assert.equal(inspectChunk(chunk({ refusal: 'no' })).content, 'no');
    const tc = chunk({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '' } }] });
    assert.equal(inspectChunk(tc).content, 'get_weather');
    assert.equal(inspectChunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] })).content, '{"ci');
    assert.equal(inspectChunk(chunk({ function_call: { name: 'f', arguments: '{}' } })).content, 'f{}');
  });

  it('reads /v1/completions text and concatenates several choices', () => {
    const c = { object: 'text_completion', choices: [{ index: 0, text: 'a', finish_reason: null }, { index: 1, text: 'b', finish_reason: 'stop' }] };
    assert.deepEqual(inspectChunk(c), { usage: null, content: 'ab', finishReason: 'stop', usageOnly: false });
  });

  it('reads responses-API events: text deltas, and usage from response.completed', () => {
    assert.equal(inspectChunk({ type: 'response.output_text.delta', delta: 'Hi' }).content, 'Hi');
    assert.equal(inspectChunk({ type: 'response.audio.delta', delta: 'AAAA' }).content, '');
    const done = inspectChunk({ type: 'response.completed', response: { status: 'completed', usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } } });
    assert.deepEqual(done, { usage: { prompt: 3, completion: 4, cachedPrompt: 0 }, content: '', finishReason: 'completed', usageOnly: false });
  });

  it('never throws, whatever JSON arrives (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        inspectChunk(v);
        usageFromBody(v);
        contentFromBody(v);
      }),
      { numRuns: 2000 },
    );
    const odd = [null, 0, 'x', [], { choices: null }, { choices: 'x' }, { choices: [null, 1, { delta: null }, { delta: { tool_calls: [null, { function: 3 }] } }] }, { usage: { prompt_tokens: -1 } }, { usage: { prompt_tokens: 'many' } }, { type: 'response.completed' }];
    for (const v of odd) assert.doesNotThrow(() => inspectChunk(v));
  });

  it('rejects nonsense usage numbers', () => {
    assert.equal(inspectChunk({ choices: [], usage: { prompt_tokens: -1, completion_tokens: Number.NaN } }).usage, null);
    assert.equal(inspectChunk({ choices: [], usage: {} }).usageOnly, false);
  });
});

describe('usage: non-stream bodies', () => {
  it('reads chat/completions, responses and embeddings usage; null when absent', () => {
    assert.deepEqual(usageFromBody({ object: 'chat.completion', usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } }), { prompt: 9, completion: 3, cachedPrompt: 0 });
    assert.deepEqual(usageFromBody({ object: 'response', usage: { input_tokens: 5, output_tokens: 6, total_tokens: 11 } }), { prompt: 5, completion: 6, cachedPrompt: 0 });
    assert.deepEqual(usageFromBody({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } }), { prompt: 8, completion: 0, cachedPrompt: 0 });
    assert.equal(usageFromBody({ object: 'chat.completion', choices: [] }), null);
    assert.equal(usageFromBody({ usage: null }), null);
  });

  it('extracts completion text from chat, completions and responses bodies', () => {
    const chat = { choices: [{ message: { role: 'assistant', content: 'Hi', tool_calls: [{ function: { name: 'f', arguments: '{}' } }] } }] };
    assert.equal(contentFromBody(chat), 'Hif{}');
    assert.equal(contentFromBody({ choices: [{ text: 'abc' }] }), 'abc');
    const responses = {
      output: [
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'r ' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] },
        { type: 'function_call', name: 'g', arguments: '{"a":1}' },
      ],
    };
    assert.equal(contentFromBody(responses), 'r Hellog{"a":1}');
    assert.equal(contentFromBody({ data: [{ embedding: [0.1] }] }), '');
  });
});

describe('usage: asking the upstream for stream usage', () => {
  it('splices the request into the bytes received: the same JSON as requestUsage builds, for any body and spacing (property)', () => {
    const body = fc.dictionary(fc.string().filter((k) => k !== 'stream_options' && k !== '__proto__'), fc.jsonValue(), { minKeys: 1 });
    fc.assert(
      fc.property(body, fc.constantFrom(undefined, 2, '\t'), fc.constantFrom('', ' \r\n\t'), (b, indent, pad) => {
        const raw = Buffer.from(pad + JSON.stringify({ ...b, stream: true }, null, indent) + pad);
        const spliced = spliceUsageRequest(raw);
        assert.ok(spliced !== null);
        assert.deepEqual(JSON.parse(spliced.toString('utf8')), requestUsage(JSON.parse(raw.toString('utf8')) as Record<string, unknown>).body);
      }),
      { numRuns: 500 },
    );
  });

  it('declines bytes that are not an object with a first member', () => {
    for (const raw of ['{}', ' { } ', '[1]', '"x"', '', 'null']) assert.equal(spliceUsageRequest(Buffer.from(raw)), null, raw);
  });

  it('adds include_usage and reports that the caller did not ask; the caller body is untouched', () => {
    const body = { model: 'gpt-4o', stream: true, messages: [] };
    const r = requestUsage(body);
    assert.equal(r.callerAsked, false);
    assert.deepEqual(r.body, { model: 'gpt-4o', stream: true, messages: [], stream_options: { include_usage: true } });
    assert.equal('stream_options' in body, false);
  });

  it("keeps the caller's other stream_options, and overrides include_usage: false", () => {
    const body = { stream: true, stream_options: { include_usage: false, include_obfuscation: false } };
    const r = requestUsage(body);
    assert.equal(r.callerAsked, false);
    assert.deepEqual(r.body.stream_options, { include_usage: true, include_obfuscation: false });
    assert.deepEqual(body.stream_options, { include_usage: false, include_obfuscation: false });
  });

  it('returns the very same body when the caller asked (so its bytes can be forwarded)', () => {
    const body = { stream: true, stream_options: { include_usage: true } };
    const r = requestUsage(body);
    assert.equal(r.callerAsked, true);
    assert.equal(r.body, body);
  });

  it('leaves non-stream requests alone (OpenAI rejects stream_options without stream)', () => {
    const body = { stream: false, messages: [] };
    assert.deepEqual(requestUsage(body), { body, callerAsked: false });
    const noStream = { messages: [] };
    assert.equal(requestUsage(noStream).body, noStream);
  });
});

describe('usage: the tracker', () => {
  const request = { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Say hello to the world.' }] };
  const promptEstimate = estimator.countPrompt(request, 'gpt-4o');

  it('reads cached prompt tokens from a stream usage chunk (prompt_tokens_details.cached_tokens)', () => {
    const last = { ...usageChunk(2048, 5), usage: { prompt_tokens: 2048, completion_tokens: 5, total_tokens: 2053, prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 } } };
    assert.deepEqual(inspectChunk(last).usage, { prompt: 2048, completion: 5, cachedPrompt: 1920 });
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    for (const c of [chunk({ content: 'Hello' }, 'stop'), last]) t.onChunk(inspectChunk(c));
    assert.deepEqual(t.final(), { promptTokens: 2048, completionTokens: 5, cachedPromptTokens: 1920, source: 'upstream' });
  });

  it('reads cached prompt tokens from a JSON answer, chat and responses API', () => {
    const chat = new UsageTracker(estimator, 'gpt-4o', request);
    assert.ok(chat.onBody({ object: 'chat.completion', choices: [], usage: { prompt_tokens: 1500, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 1024 } } }));
    assert.deepEqual(chat.final(), { promptTokens: 1500, completionTokens: 20, cachedPromptTokens: 1024, source: 'upstream' });
    const resp = new UsageTracker(estimator, 'gpt-4o', request);
    resp.onBody({ object: 'response', output: [], usage: { input_tokens: 1300, output_tokens: 9, input_tokens_details: { cached_tokens: 1280 }, output_tokens_details: { reasoning_tokens: 0 } } });
    assert.deepEqual(resp.final(), { promptTokens: 1300, completionTokens: 9, cachedPromptTokens: 1280, source: 'upstream' });
    // The responses API's stream: the usage of response.completed.
    const done = { type: 'response.completed', response: { status: 'completed', usage: { input_tokens: 1300, output_tokens: 9, input_tokens_details: { cached_tokens: 1152 } } } };
    assert.deepEqual(inspectChunk(done).usage, { prompt: 1300, completion: 9, cachedPrompt: 1152 });
  });

  it('cached tokens are 0 when absent, null, not a count; never more than the prompt', () => {
    const cached = (details: Record<string, unknown>) => readUsage({ prompt_tokens: 100, completion_tokens: 1, ...details })?.cachedPrompt;
    assert.equal(cached({}), 0);
    assert.equal(cached({ prompt_tokens_details: null }), 0);
    assert.equal(cached({ prompt_tokens_details: {} }), 0);
    assert.equal(cached({ prompt_tokens_details: { cached_tokens: null } }), 0);
    assert.equal(cached({ prompt_tokens_details: { cached_tokens: '64' } }), 0);
    assert.equal(cached({ prompt_tokens_details: { cached_tokens: -5 } }), 0);
    assert.equal(cached({ prompt_tokens_details: { cached_tokens: 64 } }), 64);
    assert.equal(cached({ prompt_tokens_details: { cached_tokens: 500 } }), 100, 'clamped to the prompt');
    assert.equal(readUsage({ completion_tokens: 3, prompt_tokens_details: { cached_tokens: 8 } })?.cachedPrompt, 0, 'no prompt, nothing cached');
  });

  it('uses the upstream usage when the stream carries it', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    for (const c of [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' world' }, 'stop'), usageChunk(14, 2)]) t.onChunk(inspectChunk(c));
    assert.deepEqual(t.final(), { promptTokens: 14, completionTokens: 2, cachedPromptTokens: 0, source: 'upstream' });
  });

  it('estimates both sides when the upstream sends no usage', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    for (const c of [chunk({ content: 'Hello' }), chunk({ content: ' world' }, 'stop')]) t.onChunk(inspectChunk(c));
    assert.deepEqual(t.final(), { promptTokens: promptEstimate, completionTokens: o200k('Hello world'), cachedPromptTokens: 0, source: 'estimated' });
  });

  it('keeps the text of a long answer whole, in order, through the joins of its pieces (issue 6)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { maxLength: 400 }), fc.nat({ max: 400 }), (pieces, readAt) => {
        const t = new UsageTracker(estimator, 'gpt-4o', request);
        pieces.forEach((p, i) => {
          if (i % 2 === 0) t.onContent(p);
          else t.onChunk(inspectChunk(chunk({ content: p })));
          if (i === readAt) assert.equal(t.text(), pieces.slice(0, i + 1).join(''), 'read mid-stream');
        });
        assert.equal(t.text(), pieces.join(''));
      }),
      { numRuns: 300 },
    );
  });

  it('bills a stream cut by the client or the upstream: prompt plus the tokens relayed before the cut', () => {
    const words = ['Once', ' upon', ' a', ' time', ',', ' there'];
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    for (const w of words.slice(0, 4)) t.onChunk(inspectChunk(chunk({ content: w })));
    // ...the connection drops here: no finish_reason, no usage chunk.
    assert.deepEqual(t.final(), { promptTokens: promptEstimate, completionTokens: o200k('Once upon a time'), cachedPromptTokens: 0, source: 'estimated' });
    assert.equal(t.text(), 'Once upon a time');
  });

  it('counts a cut tool call by the argument fragments that got through', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    t.onChunk(inspectChunk(chunk({ tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: 'lookup', arguments: '' } }] })));
    t.onChunk(inspectChunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"q":"par' } }] })));
    assert.equal(t.final().completionTokens, o200k('lookup{"q":"par'));
  });

  it('survives usage:null / choices:[] chunks mixed into the stream', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    t.onChunk(inspectChunk({ choices: [], usage: null }));
    t.onChunk(inspectChunk(chunk({ content: 'Hi' })));
    t.onChunk(inspectChunk({ choices: [], usage: null }));
    assert.deepEqual(t.final(), { promptTokens: promptEstimate, completionTokens: 1, cachedPromptTokens: 0, source: 'estimated' });
  });

  it('keeps the last usage when a server repeats cumulative usage on every chunk', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    t.onChunk(inspectChunk({ ...chunk({ content: 'a' }), usage: { prompt_tokens: 10, completion_tokens: 1 } }));
    t.onChunk(inspectChunk({ ...chunk({ content: 'b' }), usage: { prompt_tokens: 10, completion_tokens: 2 } }));
    assert.deepEqual(t.final(), { promptTokens: 10, completionTokens: 2, cachedPromptTokens: 0, source: 'upstream' });
  });

  it('never tokenises per chunk, and not at all when usage arrived; final() is idempotent', () => {
    const spy = spyEstimator();
    const t = new UsageTracker(spy, 'gpt-4o', request);
    for (let i = 0; i < 100; i++) t.onChunk(inspectChunk(chunk({ content: 'x' })));
    assert.equal(spy.calls, 0);
    t.onChunk(inspectChunk(usageChunk(1, 100)));
    assert.deepEqual(t.final(), { promptTokens: 1, completionTokens: 100, cachedPromptTokens: 0, source: 'upstream' });
    assert.equal(spy.calls, 0);
    const u = new UsageTracker(spy, 'gpt-4o', request);
    u.onChunk(inspectChunk(chunk({ content: 'x' })));
    const first = u.final();
    const calls = spy.calls;
    assert.equal(u.final(), first);
    assert.equal(spy.calls, calls);
  });

  it('non-stream: usage from the body, else estimated from its text; embeddings get completion 0', () => {
    const withUsage = new UsageTracker(estimator, 'gpt-4o', request);
    withUsage.onBody({ choices: [{ message: { content: 'Hello world' } }], usage: { prompt_tokens: 14, completion_tokens: 2 } });
    assert.deepEqual(withUsage.final(), { promptTokens: 14, completionTokens: 2, cachedPromptTokens: 0, source: 'upstream' });

    const without = new UsageTracker(estimator, 'gpt-4o', request);
    without.onBody({ choices: [{ message: { content: 'Hello world' } }] });
    assert.deepEqual(without.final(), { promptTokens: promptEstimate, completionTokens: 2, cachedPromptTokens: 0, source: 'estimated' });

    const emb = new UsageTracker(estimator, 'text-embedding-3-small', { model: 'text-embedding-3-small', input: ['hello world', 'hi'] });
    emb.onBody({ object: 'list', data: [] });
    assert.deepEqual(emb.final(), { promptTokens: cl100k('hello world') + cl100k('hi'), completionTokens: 0, cachedPromptTokens: 0, source: 'estimated' });
  });

  it('a request cut before any chunk is still billed its prompt', () => {
    const t = new UsageTracker(estimator, 'gpt-4o', request);
    assert.deepEqual(t.final(), { promptTokens: promptEstimate, completionTokens: 0, cachedPromptTokens: 0, source: 'estimated' });
  });
});
