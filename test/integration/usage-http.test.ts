/**
 * The usage contract over HTTP (issue 3), through the real server:
 * - the caller asked for `stream_options.include_usage` → every frame as the upstream sent it,
 *   the usage chunk (`choices: []`, full usage) last before `[DONE]`;
 * - the caller did not → exactly the frames an upstream sends a caller who did not ask (no usage
 *   chunk, no `"usage":null`), while the proxy still counts the upstream's usage;
 * - an upstream that ignores include_usage, a stream cut by the client, a stream cut by the
 *   upstream → counted all the same, `source="estimated"`, and the log record says so;
 * - `usage: null` / `choices: []` chunks break nothing.
 *
 * The reference frames come from the simulator called directly (`createSimFetch`), with the same
 * seed; the odd upstreams are nock scripts on http://upstream.test (global fetch, nock@14).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import nock from 'nock';
import OpenAI from 'openai';
import type { RequestRecord } from '../../src/events/types.js';
import { createSimFetch } from '../../src/sim/handler.js';
import { createTokenEstimator } from '../../src/usage/estimate.js';
import { interceptUpstream, releaseUpstream } from '../helpers/nock.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const UPSTREAM = 'http://upstream.test';
const SIM = { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 8 }; // baseConfig()'s simulator
const estimator = createTokenEstimator();

/** `data:` payloads of an SSE body (the proxy's output is canonical: `data: …\n\n`). */
function payloads(sse: string): string[] {
  return sse
    .split('\n\n')
    .filter((f) => f !== '')
    .map((f) => {
      assert.ok(f.startsWith('data: '), `a data frame: ${JSON.stringify(f)}`);
      return f.slice('data: '.length);
    });
}

/** Frames with the per-response id and timestamp blanked, for comparing two answers. */
const normalise = (frames: string[]): string[] => frames.map((f) => f.replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0'));

async function postChat(p: TestProxy, body: Record<string, unknown>): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${p.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

/** What the simulator sends for `body` when called directly, no proxy in between. */
async function simDirect(body: Record<string, unknown>): Promise<string> {
  const sim = createSimFetch(SIM);
  const r = await sim('http://sim.local/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.text();
}

/** The next `request.end` record (bounded wait). */
function nextRecord(p: TestProxy, timeoutMs = 5000): Promise<RequestRecord> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no request.end within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = p.deps.bus.on('request.end', (r) => {
      clearTimeout(t);
      off();
      resolve(r);
    });
  });
}

/** The log line written for request `id`. */
function logOf(p: TestProxy, id: string): Record<string, unknown> {
  const line = p.records().find((r) => r.msg === 'request' && r.id === id);
  assert.ok(line, `a request log line for ${id}`);
  return line;
}

/** llm_proxy_tokens_total as { "model,type,source": value } from the proxy's registry. */
async function tokenCounters(p: TestProxy): Promise<Record<string, number>> {
  const m = (await p.deps.registry.getMetricsAsJSON()).find((x) => x.name === 'llm_proxy_tokens_total');
  assert.ok(m);
  return Object.fromEntries(m.values.map((v) => [`${v.labels.model},${v.labels.type},${v.labels.source}`, v.value]));
}

/** An OpenAI-style chunk frame; `extra` is appended after `choices` (e.g. `usage: null`). */
function chunkFrame(choices: unknown[], extra: Record<string, unknown> = {}): string {
  return 'data: ' + JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o', choices, ...extra }) + '\n\n';
}
const contentChoice = (content: string, finish: string | null = null) => [{ index: 0, delta: { content }, logprobs: null, finish_reason: finish }];

describe('usage over HTTP: the stream usage contract', function () {
  this.timeout(20_000);
  let p: TestProxy;
  let client: OpenAI;
  const messages = [{ role: 'user', content: 'Please count my tokens.' }];

  before(async () => {
    interceptUpstream();
    estimator.preload();
    p = await startTestProxy({
      config: {
        upstreams: {
          up: { type: 'openai', baseUrl: `${UPSTREAM}/v1`, apiKey: 'sk-x' },
          slow: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 100, defaultMaxTokens: 50 } },
        },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'slow-*', upstream: 'slow' },
          { match: 'gpt-4o', upstream: 'up' },
        ],
      },
    });
    client = new OpenAI({ baseURL: p.baseURL, apiKey: 'sk-anything', maxRetries: 0 });
  });
  afterEach(() => nock.cleanAll());
  after(async () => {
    await p?.close();
    releaseUpstream();
  });

  it('caller asked: every frame relayed unchanged, the usage chunk (choices: [], full usage) last before [DONE]', async () => {
    const body = { model: 'sim-1', messages, max_tokens: 6, seed: 7, stream: true, stream_options: { include_usage: true } };
    const [viaProxy, direct] = await Promise.all([postChat(p, body), simDirect(body)]);
    assert.equal(viaProxy.status, 200);
    assert.match(viaProxy.type ?? '', /^text\/event-stream/);
    const got = payloads(viaProxy.text);
    assert.deepEqual(normalise(got), normalise(payloads(direct)));
    assert.equal(got.at(-1), '[DONE]');
    const usageChunk = JSON.parse(got.at(-2)!) as { choices: unknown[]; usage: Record<string, unknown> };
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, {
      prompt_tokens: Math.ceil('Please count my tokens.'.length / 4),
      completion_tokens: 6,
      total_tokens: Math.ceil('Please count my tokens.'.length / 4) + 6,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });
    // Only that chunk carries usage; the others carry `"usage":null`, as OpenAI sends them.
    for (const f of got.slice(0, -2)) assert.equal((JSON.parse(f) as { usage?: unknown }).usage, null);

    // The SDK sees the same: its last chunk is the usage chunk.
    const chunks = [];
    for await (const c of await client.chat.completions.create({ ...body, messages: [{ role: 'user', content: 'Please count my tokens.' }], stream: true })) chunks.push(c);
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 6);
  });

  it('caller did not ask: exactly what the upstream sends such a caller — no usage chunk, no "usage":null — yet usage is counted', async () => {
    for (const streamOptions of [undefined, { include_usage: false }]) {
      const body: Record<string, unknown> = { model: 'sim-1', messages, max_tokens: 5, seed: 'abc', stream: true };
      if (streamOptions) body.stream_options = streamOptions;
      const ended = nextRecord(p);
      const viaProxy = await postChat(p, body);
      const direct = await simDirect({ model: 'sim-1', messages, max_tokens: 5, seed: 'abc', stream: true });
      assert.doesNotMatch(direct, /usage/, 'the reference has no usage at all');
      assert.deepEqual(normalise(payloads(viaProxy.text)), normalise(payloads(direct)), JSON.stringify(streamOptions));
      assert.doesNotMatch(viaProxy.text, /usage/);
      // The proxy asked the upstream for usage and counted it.
      const r = await ended;
      assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource], [Math.ceil('Please count my tokens.'.length / 4), 5, 'upstream']);
    }
  });

  it('an upstream that ignores include_usage: tokens estimated, source="estimated", and the log record says so', async () => {
    let sentBody: Record<string, unknown> | undefined;
    const words = ['Hello', ' from', ' an', ' upstream', ' without', ' usage', '.'];
    const sse = chunkFrame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]) +
      words.map((w) => chunkFrame(contentChoice(w))).join('') +
      chunkFrame(contentChoice('', 'stop')) +
      'data: [DONE]\n\n';
    nock(UPSTREAM)
      .post('/v1/chat/completions', (b: Record<string, unknown>) => {
        sentBody = b;
        return true;
      })
      .reply(200, sse, { 'content-type': 'text/event-stream' });
    const before = await tokenCounters(p);
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'Say hello.' }], stream: true as const, stream_options: { include_usage: true } };
    const ended = nextRecord(p);
    let text = '';
    const chunks = [];
    for await (const c of await client.chat.completions.create(body)) {
      chunks.push(c);
      text += c.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, words.join(''));
    assert.ok(chunks.every((c) => c.usage === undefined), 'no usage chunk invented for the caller');
    assert.deepEqual(sentBody?.stream_options, { include_usage: true }, 'the proxy asked the upstream');

    const r = await ended;
    const prompt = estimator.countPrompt(body, 'gpt-4o');
    const completion = estimator.countText(words.join(''), 'gpt-4o');
    assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource, r.endReason], [prompt, completion, 'estimated', 'done']);
    const log = logOf(p, r.id);
    assert.deepEqual([log.tokenSource, log.promptTokens, log.completionTokens], ['estimated', prompt, completion]);
    const after = await tokenCounters(p);
    assert.equal((after['gpt-4o,prompt,estimated'] ?? 0) - (before['gpt-4o,prompt,estimated'] ?? 0), prompt);
    assert.equal((after['gpt-4o,completion,estimated'] ?? 0) - (before['gpt-4o,completion,estimated'] ?? 0), completion);
    assert.equal(after['gpt-4o,prompt,upstream'] ?? 0, before['gpt-4o,prompt,upstream'] ?? 0);
  });

  it('a stream cut by the client is billed: prompt + the completion tokens relayed, estimated', async () => {
    const body = { model: 'slow-1', messages: [{ role: 'user' as const, content: 'Tell me a long story.' }], stream: true as const, stream_options: { include_usage: true } };
    const ended = nextRecord(p);
    let text = '';
    let n = 0;
    for await (const c of await client.chat.completions.create(body)) {
      const t = c.choices[0]?.delta.content;
      if (!t) continue;
      text += t;
      if (++n === 3) break; // the SDK aborts its request; the next token is 100 ms away
    }
    const r = await ended;
    assert.equal(r.endReason, 'client_aborted');
    const expected = [estimator.countPrompt(body, 'slow-1'), estimator.countText(text, 'slow-1'), 'estimated'];
    assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource], expected);
    const log = logOf(p, r.id);
    assert.deepEqual([log.promptTokens, log.completionTokens, log.tokenSource, log.endReason], [...expected, 'client_aborted']);
  });

  it('a stream cut by the upstream (EOF before [DONE], or a reset) is billed too, and the caller gets an error', async () => {
    const words = ['Once', ' upon', ' a', ' time'];
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'A story, please.' }], stream: true as const };
    const cuts: Array<[string, () => Readable | string]> = [
      ['upstream_truncated', () => words.map((w) => chunkFrame(contentChoice(w), { usage: null })).join('')],
      [
        'upstream_error',
        () => {
          const s = new Readable({ read() {} });
          for (const w of words) s.push(chunkFrame(contentChoice(w), { usage: null }));
          setTimeout(() => s.destroy(new Error('connection reset')), 30);
          return s;
        },
      ],
    ];
    for (const [reason, make] of cuts) {
      nock(UPSTREAM).post('/v1/chat/completions').reply(200, () => make(), { 'content-type': 'text/event-stream' });
      const ended = nextRecord(p);
      let text = '';
      await assert.rejects(async () => {
        for await (const c of await client.chat.completions.create(body)) text += c.choices[0]?.delta.content ?? '';
      }, OpenAI.APIError, `${reason}: the SDK raises the error frame`);
      assert.equal(text, words.join(''), `${reason}: everything before the cut reached the caller`);
      const r = await ended;
      assert.equal(r.endReason, reason);
      const expected = [estimator.countPrompt(body, 'gpt-4o'), estimator.countText(words.join(''), 'gpt-4o'), 'estimated'];
      assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource], expected, reason);
      const log = logOf(p, r.id);
      assert.deepEqual([log.promptTokens, log.completionTokens, log.tokenSource], expected, reason);
    }
  });

  describe('chunks with usage: null and choices: []', () => {
    // What some servers send with include_usage: `usage: null` on every chunk, and a keep-alive
    // style chunk with no choices and no usage in the middle.
    const upstreamFrames = [
      chunkFrame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], { usage: null }),
      chunkFrame(contentChoice('Hi'), { usage: null }),
      chunkFrame([], { usage: null }),
      chunkFrame(contentChoice(' there'), { usage: null }),
      chunkFrame([], { usage: null }),
      chunkFrame(contentChoice('', 'stop'), { usage: null }),
      chunkFrame([], { usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } }),
      'data: [DONE]\n\n',
    ];
    const sse = upstreamFrames.join('');
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], stream: true as const };

    it('caller asked: relayed byte for byte, the SDK reads them, usage counted from the upstream', async () => {
      nock(UPSTREAM).post('/v1/chat/completions').twice().reply(200, sse, { 'content-type': 'text/event-stream' });
      const raw = await postChat(p, { ...body, stream_options: { include_usage: true } });
      assert.equal(raw.text, sse);

      const ended = nextRecord(p);
      let text = '';
      let count = 0;
      for await (const c of await client.chat.completions.create({ ...body, stream_options: { include_usage: true } })) {
        count++;
        text += c.choices[0]?.delta.content ?? '';
      }
      assert.equal(text, 'Hi there');
      assert.equal(count, upstreamFrames.length - 1);
      const r = await ended;
      assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource, r.endReason], [9, 2, 'upstream', 'done']);
    });

    it('caller did not ask: the usage chunk is dropped, "usage":null stripped, the rest unchanged', async () => {
      nock(UPSTREAM).post('/v1/chat/completions').reply(200, sse, { 'content-type': 'text/event-stream' });
      const ended = nextRecord(p);
      const raw = await postChat(p, body);
      assert.doesNotMatch(raw.text, /usage/);
      const expected = upstreamFrames
        .slice(0, -2) // the usage chunk goes; [DONE] stays
        .map((f) => f.slice('data: '.length, -2).replace(',"usage":null}', '}'))
        .concat('[DONE]');
      assert.deepEqual(payloads(raw.text), expected);
      const r = await ended;
      assert.deepEqual([r.promptTokens, r.completionTokens, r.tokenSource], [9, 2, 'upstream']);
    });

    it('caller did not ask: "usage":null is stripped wherever and however the upstream writes it', async () => {
      // Key order and spacing are the server's choice: usage before choices, or Python's
      // json.dumps separators (`, "usage": null}`).
      const usageFirst = (choices: unknown[]) =>
        'data: ' + JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', usage: null, created: 1_700_000_000, model: 'gpt-4o', choices }) + '\n\n';
      const spaced = (choices: unknown[]) =>
        'data: ' + JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o', choices, usage: null }).replace(/,"/g, ', "').replace(/":/g, '": ') + '\n\n';
      nock(UPSTREAM)
        .post('/v1/chat/completions')
        .reply(200, usageFirst(contentChoice('Hi')) + spaced(contentChoice(' you')) + usageFirst(contentChoice('', 'stop')) + 'data: [DONE]\n\n', { 'content-type': 'text/event-stream' });
      const raw = await postChat(p, body);
      const frames = payloads(raw.text);
      assert.equal(frames.at(-1), '[DONE]');
      const chunks = frames.slice(0, -1).map((f) => JSON.parse(f) as Record<string, unknown>);
      assert.deepEqual(chunks.map((c) => 'usage' in c), [false, false, false]);
      assert.deepEqual(chunks.map((c) => (c.choices as Array<{ delta: { content: string } }>)[0]!.delta.content), ['Hi', ' you', '']);
    });
  });
});
