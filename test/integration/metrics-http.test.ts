/**
 * GET /metrics through the real server (issue 3): a scripted session with the real `openai` SDK
 * leaves exact values in every metric it touches; label cardinality stays bounded under 1,000
 * requests with random model names; the optional bearer token guards the endpoint.
 *
 * Upstreams: the in-process simulator (`sim-*`, fast; `slow-*`, 100 ms between tokens) and an
 * OpenAI-compatible upstream at http://upstream.test answered by nock (the upstream client uses
 * global fetch, which nock@14 intercepts). Waits are event-driven: the proxy's `request.end`
 * events, bounded by a deadline.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import nock from 'nock';
import OpenAI from 'openai';
import type { RequestRecord } from '../../src/events/types.js';
import { createTokenEstimator } from '../../src/usage/estimate.js';
import { simText } from '../../src/sim/text.js';
import { interceptUpstream, releaseUpstream } from '../helpers/nock.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

// ---------------------------------------------------------------------------------------------
// helpers

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse Prometheus text exposition (what prom-client writes) into samples. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    assert.ok(m, `unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** `k=v,k=v` in exposition order: readable keys for exact-map comparisons. */
const labelKey = (labels: Record<string, string>, drop: readonly string[] = []): string =>
  Object.entries(labels)
    .filter(([k]) => !drop.includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Every series of sample `name` as { labelKey: value }, optionally only those matching `where`. */
function seriesOf(samples: Sample[], name: string, where: Record<string, string> = {}, drop: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
    out[labelKey(s.labels, drop)] = s.value;
  }
  return out;
}

async function scrape(p: TestProxy, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${p.url}/metrics`, { headers });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

/** Collects the proxy's request records; `waitFor(n)` resolves once n have ended (bounded). */
function recordsOf(p: TestProxy): { all: RequestRecord[]; waitFor(n: number, timeoutMs?: number): Promise<RequestRecord[]> } {
  const all: RequestRecord[] = [];
  let wake: (() => void) | null = null;
  p.deps.bus.on('request.end', (r) => {
    all.push(r);
    wake?.();
  });
  return {
    all,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (all.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${n} finished requests, saw ${all.length} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
      }
      return all;
    },
  };
}

/** The simulator's prompt count: ceil(characters / 4), at least 1. */
const simPrompt = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

const UPSTREAM = 'http://upstream.test';
const upstreamConfig = { type: 'openai', baseUrl: `${UPSTREAM}/v1`, apiKey: 'sk-x' };

function chatCompletionBody(model: string, content: string, prompt: number, completion: number): Record<string, unknown> {
  return {
    id: 'chatcmpl-up',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

// ---------------------------------------------------------------------------------------------

describe('metrics over HTTP: a scripted session through the openai SDK', function () {
  this.timeout(30_000);
  const estimator = createTokenEstimator();
  const prices = { 'sim-*': { prompt: 2, completion: 6 }, 'slow-*': { prompt: 1.5, completion: 3 } };
  let p: TestProxy;
  let samples: Sample[];
  /** Mid-stream view of llm_proxy_active_streams{model="slow-*"}. */
  let activeMidStream: number | undefined;
  /** What the aborted stream should be billed (estimated: prompt + the text relayed). */
  let aborted: { prompt: number; completion: number; text: string };
  /** Content chunks the proxy relayed on the aborted stream (≥ the 3 the caller read). */
  let relayedTokens = 0;
  const A = { content: 'Count the tokens, please.', max: 5 }; // stream, include_usage
  const B = { content: 'abcd', max: 7 }; // stream, caller did not ask for usage
  const C = { content: 'abcdefgh', max: 4 }; // non-stream
  const D = { input: 'hello world!' }; // embeddings
  const G = { prompt: 11, completion: 13 }; // nock upstream, non-stream, 200 with usage

  before(async () => {
    interceptUpstream();
    p = await startTestProxy({
      config: {
        upstreams: {
          up: upstreamConfig,
          slow: { type: 'sim', sim: { ttftMs: 120, tokenDelayMs: 100, defaultMaxTokens: 50 } },
        },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'slow-*', upstream: 'slow' },
          { match: 'up-*', upstream: 'up' },
        ],
        metrics: { prices },
      },
    });
    const rec = recordsOf(p);
    const client = new OpenAI({ baseURL: p.baseURL, apiKey: 'sk-anything', maxRetries: 0 });
    const user = (content: string) => [{ role: 'user' as const, content }];

    // A: stream, include_usage → the usage chunk is the caller's.
    const a = await client.chat.completions.create({ model: 'sim-1', messages: user(A.content), max_tokens: A.max, stream: true, stream_options: { include_usage: true } });
    const aChunks = [];
    for await (const c of a) aChunks.push(c);
    assert.deepEqual(aChunks.at(-1)?.usage && { p: aChunks.at(-1)!.usage!.prompt_tokens, c: aChunks.at(-1)!.usage!.completion_tokens }, { p: simPrompt(A.content), c: A.max });

    // B: stream without include_usage (the proxy asks the upstream anyway).
    const b = await client.chat.completions.create({ model: 'sim-1', messages: user(B.content), max_tokens: B.max, stream: true });
    for await (const c of b) assert.equal(c.usage, undefined, 'no usage in a chunk the caller did not ask for');

    // C: non-stream.
    const c = await client.chat.completions.create({ model: 'sim-1', messages: user(C.content), max_tokens: C.max });
    assert.equal(c.usage?.completion_tokens, C.max);

    // D: embeddings (pass-through, counted from its usage field).
    const d = await client.embeddings.create({ model: 'sim-embed', input: D.input });
    assert.equal(d.usage.prompt_tokens, simPrompt(D.input));

    // E: a model no route matches → 404.
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: user('x') }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 404);

    // F, F2: the upstream answers 500 (non-stream, then stream) → passed through.
    const error500 = { error: { message: 'upstream exploded', type: 'server_error', param: null, code: null } };
    nock(UPSTREAM).post('/v1/chat/completions').twice().reply(500, error500);
    await assert.rejects(client.chat.completions.create({ model: 'up-1', messages: user('fail please') }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 500);
    await assert.rejects(
      (async () => {
        for await (const _ of await client.chat.completions.create({ model: 'up-1', messages: user('fail please'), stream: true })) void _;
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && e.status === 500,
    );

    // G: the upstream answers 200 with usage.
    nock(UPSTREAM).post('/v1/chat/completions').reply(200, chatCompletionBody('up-2', 'fine', G.prompt, G.completion));
    const g = await client.chat.completions.create({ model: 'up-2', messages: user('work please') });
    assert.equal(g.choices[0]?.message.content, 'fine');

    // H: a slow stream the caller abandons after 3 content chunks; active_streams seen mid-way.
    const hBody = { model: 'slow-1', messages: user('Tell me a long story.'), stream: true as const };
    const h = await client.chat.completions.create(hBody);
    let text = '';
    let n = 0;
    for await (const chunk of h) {
      const t = chunk.choices[0]?.delta.content;
      if (!t) continue;
      text += t;
      n++;
      if (n === 1) activeMidStream = seriesOf(parseMetrics((await scrape(p)).text), 'llm_proxy_active_streams')['model=slow-*'];
      if (n === 3) break; // the SDK aborts the request
    }
    await rec.waitFor(9);
    // Billed is what the proxy relayed, which can be more than the SDK consumer iterated (it
    // reads ahead while this test scrapes): take the count of content chunks from the record.
    const hRecord = p.records().find((r) => r.msg === 'request' && r.model === 'slow-1');
    relayedTokens = (hRecord?.chunks as number) - 1; // minus the role chunk
    assert.ok(relayedTokens >= 3 && text === simText(relayedTokens).slice(0, text.length), `relayed ${relayedTokens}, read ${JSON.stringify(text)}`);
    aborted = { prompt: estimator.countPrompt(hBody, 'slow-1'), completion: estimator.countText(simText(relayedTokens), 'slow-1'), text };

    const res = await scrape(p);
    assert.equal(res.status, 200);
    samples = parseMetrics(res.text);
  });

  after(async () => {
    await p?.close();
    releaseUpstream();
  });

  it('serves Prometheus text with the DESIGN.md metric families', async () => {
    const res = await scrape(p);
    assert.match(res.type ?? '', /^text\/plain; version=0\.0\.4/);
    for (const [name, type] of [
      ['llm_proxy_requests_total', 'counter'],
      ['llm_proxy_request_duration_seconds', 'histogram'],
      ['llm_proxy_time_to_first_token_seconds', 'histogram'],
      ['llm_proxy_inter_token_latency_seconds', 'histogram'],
      ['llm_proxy_tokens_total', 'counter'],
      ['llm_proxy_active_streams', 'gauge'],
      ['llm_proxy_upstream_requests_total', 'counter'],
      ['llm_proxy_rate_limited_total', 'counter'],
      ['llm_proxy_client_aborts_total', 'counter'],
      ['llm_proxy_cost_usd_total', 'counter'],
    ]) {
      assert.match(res.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    }
  });

  it('llm_proxy_requests_total: one series per (route, model label, key, status), exact counts', () => {
    assert.deepEqual(seriesOf(samples, 'llm_proxy_requests_total'), {
      'route=/v1/chat/completions,model=sim-*,key=anonymous,status=200': 3, // A, B, C
      'route=/v1/embeddings,model=sim-*,key=anonymous,status=200': 1, // D
      'route=/v1/chat/completions,model=other,key=anonymous,status=404': 1, // E
      'route=/v1/chat/completions,model=up-*,key=anonymous,status=500': 2, // F, F2
      'route=/v1/chat/completions,model=up-*,key=anonymous,status=200': 1, // G
      'route=/v1/chat/completions,model=slow-*,key=anonymous,status=200': 1, // H (head was sent)
    });
  });

  it('llm_proxy_tokens_total: upstream usage where given, estimates for the cut stream, nothing for failed requests', () => {
    assert.deepEqual(seriesOf(samples, 'llm_proxy_tokens_total'), {
      // A + B + C + D (the embedding has no completion)
      'model=sim-*,key=anonymous,type=prompt,source=upstream': simPrompt(A.content) + simPrompt(B.content) + simPrompt(C.content) + simPrompt(D.input),
      'model=sim-*,key=anonymous,type=completion,source=upstream': A.max + B.max + C.max,
      'model=up-*,key=anonymous,type=prompt,source=upstream': G.prompt,
      'model=up-*,key=anonymous,type=completion,source=upstream': G.completion,
      // H: no usage chunk ever came; prompt + the three tokens relayed before the cut.
      'model=slow-*,key=anonymous,type=prompt,source=estimated': aborted.prompt,
      'model=slow-*,key=anonymous,type=completion,source=estimated': aborted.completion,
      // F and F2: the upstream refused (500) and nothing was relayed: no tokens, no estimate.
    });
    assert.ok(aborted.completion >= 3, `3 tokens relayed before the cut: ${JSON.stringify(aborted.text)}`);
  });

  it('llm_proxy_upstream_requests_total: every attempt by upstream and status', () => {
    assert.deepEqual(seriesOf(samples, 'llm_proxy_upstream_requests_total'), {
      'upstream=sim,status=200': 4, // A, B, C, D
      'upstream=up,status=500': 2, // F, F2
      'upstream=up,status=200': 1, // G
      'upstream=slow,status=200': 1, // H
    });
  });

  it('llm_proxy_active_streams: 1 while the slow stream was open, every series back to 0', () => {
    assert.equal(activeMidStream, 1);
    assert.deepEqual(seriesOf(samples, 'llm_proxy_active_streams'), { 'model=sim-*': 0, 'model=slow-*': 0 });
  });

  it('llm_proxy_client_aborts_total: the abandoned stream, and only it', () => {
    assert.deepEqual(seriesOf(samples, 'llm_proxy_client_aborts_total'), { 'model=slow-*': 1 });
  });

  it('histograms: request duration by (route, model, stream), TTFT and inter-token gaps per model', () => {
    assert.deepEqual(seriesOf(samples, 'llm_proxy_request_duration_seconds_count'), {
      'route=/v1/chat/completions,model=sim-*,stream=true': 2,
      'route=/v1/chat/completions,model=sim-*,stream=false': 1,
      'route=/v1/embeddings,model=sim-*,stream=false': 1,
      'route=/v1/chat/completions,model=other,stream=false': 1,
      'route=/v1/chat/completions,model=up-*,stream=false': 2,
      'route=/v1/chat/completions,model=up-*,stream=true': 1,
      'route=/v1/chat/completions,model=slow-*,stream=true': 1,
    });
    // TTFT: streams that sent content only (A, B; H).
    assert.deepEqual(seriesOf(samples, 'llm_proxy_time_to_first_token_seconds_count'), { 'model=sim-*': 2, 'model=slow-*': 1 });
    // Gaps between content chunks: A 5 tokens → 4, B 7 → 6; H 3 tokens relayed → 2.
    assert.deepEqual(seriesOf(samples, 'llm_proxy_inter_token_latency_seconds_count'), { 'model=sim-*': 4 + 6, 'model=slow-*': relayedTokens - 1 });
    // Every request that reached an upstream has an overhead observation.
    assert.deepEqual(seriesOf(samples, 'llm_proxy_overhead_seconds_count'), { 'model=sim-*': 4, 'model=up-*': 3, 'model=slow-*': 1 });

    // Buckets: the slow upstream waits 120 ms, then 100 ms between tokens.
    const ttft = seriesOf(samples, 'llm_proxy_time_to_first_token_seconds_bucket', { model: 'slow-*' }, ['model']);
    assert.equal(ttft['le=0.1'], 0, 'slow TTFT is above 100 ms');
    assert.equal(ttft['le=+Inf'], 1);
    const gaps = seriesOf(samples, 'llm_proxy_inter_token_latency_seconds_bucket', { model: 'slow-*' }, ['model']);
    assert.equal(gaps['le=0.075'], 0, 'slow gaps are ≈100 ms');
    assert.equal(gaps['le=2'], 2);
    // Cumulative buckets, +Inf equal to _count, for every histogram series.
    for (const h of ['llm_proxy_request_duration_seconds', 'llm_proxy_time_to_first_token_seconds', 'llm_proxy_inter_token_latency_seconds']) {
      const counts = seriesOf(samples, `${h}_count`);
      const buckets = samples.filter((s) => s.name === `${h}_bucket`);
      for (const [key, count] of Object.entries(counts)) {
        const mine = buckets.filter((s) => labelKey(s.labels, ['le']) === key).map((s) => s.value);
        assert.ok(mine.length > 1, `${h}{${key}} has buckets`);
        for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! >= mine[i - 1]!, `${h}{${key}} buckets are cumulative`);
        assert.equal(mine.at(-1), count, `${h}{${key}} +Inf = _count`);
      }
    }
  });

  it('llm_proxy_cost_usd_total: tokens × the price table (estimated tokens priced too), only for priced models', () => {
    const cost = seriesOf(samples, 'llm_proxy_cost_usd_total');
    assert.deepEqual(Object.keys(cost).sort(), ['model=sim-*,key=anonymous', 'model=slow-*,key=anonymous']);
    const sim = [
      [simPrompt(A.content), A.max],
      [simPrompt(B.content), B.max],
      [simPrompt(C.content), C.max],
      [simPrompt(D.input), 0],
    ].reduce((sum, [pt, ct]) => sum + (pt! * prices['sim-*'].prompt + ct! * prices['sim-*'].completion) / 1e6, 0);
    const slow = (aborted.prompt * prices['slow-*'].prompt + aborted.completion * prices['slow-*'].completion) / 1e6;
    assert.ok(Math.abs(cost['model=sim-*,key=anonymous']! - sim) < 1e-12, `sim cost ${cost['model=sim-*,key=anonymous']} ≈ ${sim}`);
    assert.ok(Math.abs(cost['model=slow-*,key=anonymous']! - slow) < 1e-12, `slow cost ${cost['model=slow-*,key=anonymous']} ≈ ${slow}`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('metrics over HTTP: label cardinality under random model names', function () {
  this.timeout(60_000);
  const N = 1000;
  const KEYS = { alice: 'sk-alice-cardinality', bob: 'sk-bob-cardinality' };

  before(interceptUpstream);
  afterEach(() => nock.cleanAll());
  after(releaseUpstream);

  /** Answer every chat / embeddings / files call on the nock upstream, echoing the model. */
  function persistUpstream(): void {
    const modelOf = (body: unknown): string => {
      const o = typeof body === 'string' ? (JSON.parse(body) as { model?: string }) : (body as { model?: string });
      return o.model ?? 'unknown';
    };
    nock(UPSTREAM)
      .persist()
      .post('/v1/chat/completions')
      .reply(200, (_uri, body) => chatCompletionBody(modelOf(body), 'ok', 3, 1))
      .post('/v1/embeddings')
      .reply(200, (_uri, body) => ({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [1, 0] }], model: modelOf(body), usage: { prompt_tokens: 2, total_tokens: 2 } }))
      .get(/^\/v1\/files\/.*/)
      .reply(404, { error: { message: 'No such file', type: 'invalid_request_error', param: null, code: null } });
  }

  /** Distinct label sets (ignoring `le`) of every llm_proxy_* family, from the text. */
  function seriesCounts(samples: Sample[]): Record<string, number> {
    const sets = new Map<string, Set<string>>();
    for (const s of samples) {
      if (!s.name.startsWith('llm_proxy_')) continue;
      const family = s.name.replace(/_(bucket|sum|count)$/, '');
      if (!sets.has(family)) sets.set(family, new Set());
      sets.get(family)!.add(labelKey(s.labels, ['le']));
    }
    return Object.fromEntries([...sets].map(([k, v]) => [k, v.size]));
  }

  /**
   * Send N requests of `kinds` in turn (so every kind appears early), 25 at a time, each with a
   * random model name, request id and, where a kind says so, a random key. Returns the random
   * strings used, the series counts after the first 120 and after all N, and the final samples.
   */
  async function drive(p: TestProxy, kinds: Array<(rand: string) => { path: string; method?: string; key: string; body?: unknown }>) {
    const randoms: string[] = [];
    const send = async (i: number): Promise<number> => {
      const rand = randomUUID().replace(/-/g, '').slice(0, 16);
      randoms.push(rand);
      const k = kinds[i % kinds.length]!(rand);
      const res = await fetch(`${p.url}${k.path}`, {
        method: k.method ?? 'POST',
        headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/json', 'x-request-id': `rid-${rand}` },
        body: k.body === undefined ? undefined : JSON.stringify(k.body),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const statuses = new Map<number, number>();
    let early: Record<string, number> = {};
    for (let i = 0; i < N; i += 25) {
      const batch = await Promise.all(Array.from({ length: Math.min(25, N - i) }, (_, j) => send(i + j)));
      for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      if (i + 25 === 125) early = seriesCounts(parseMetrics((await scrape(p)).text));
    }
    const text = (await scrape(p)).text;
    return { randoms, statuses, early, text, samples: parseMetrics(text) };
  }

  function assertBounded(r: Awaited<ReturnType<typeof drive>>, models: readonly string[], maxSeries: number): void {
    const late = seriesCounts(r.samples);
    assert.deepEqual(late, r.early, 'no llm_proxy_* family grew a series after the first 125 requests');
    for (const [family, n] of Object.entries(late)) assert.ok(n <= maxSeries, `${family}: ${n} series (≤ ${maxSeries})`);
    const seen = (label: string) => new Set(r.samples.filter((s) => s.name.startsWith('llm_proxy_') && s.labels[label] !== undefined).map((s) => s.labels[label]!));
    assert.deepEqual([...seen('model')].sort(), [...models].sort());
    assert.deepEqual([...seen('key')].sort(), ['alice', 'anonymous', 'bob']);
    // Route labels are templates: files by id share one (src/http/route-table.ts).
    for (const route of seen('route')) assert.match(route, /^\/v1\/(chat\/completions|embeddings|files\/:id)$/);
    const leaked = r.randoms.filter((x) => r.text.includes(x));
    assert.deepEqual(leaked, [], 'no random model name, key or id appears in /metrics');
    assert.equal(r.statuses.get(500) ?? 0, 0, 'no request failed inside the proxy');
  }

  const keysConfig = [
    { name: 'alice', key: KEYS.alice },
    { name: 'bob', key: KEYS.bob },
  ];

  /** A proxy with the two keys, `sim-*` on the simulator and `match` to the (answering) nock upstream. */
  async function startRouting(match: string): Promise<TestProxy> {
    persistUpstream();
    return startTestProxy({
      config: {
        // Hundreds of 401s from one address on purpose: no throttle (src/http/auth-throttle.ts).
        server: { authFailures: { max: 1_000_000 } },
        upstreams: { up: upstreamConfig },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match, upstream: 'up' },
        ],
        keys: keysConfig,
      },
    });
  }

  const chat = (model: string, stream = false) => ({ model, stream, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });

  it('globs to the simulator and to an upstream, 404s for unrouted names, 401s for random keys: bounded', async () => {
    const p = await startRouting('up-*');
    try {
      const r = await drive(p, [
        (x) => ({ path: '/v1/chat/completions', key: KEYS.alice, body: chat(`sim-${x}`, true) }),
        (x) => ({ path: '/v1/chat/completions', key: KEYS.bob, body: chat(`up-${x}`) }),
        (x) => ({ path: '/v1/chat/completions', key: KEYS.alice, body: chat(`model-${x}`) }), // 404
        (x) => ({ path: '/v1/embeddings', key: KEYS.bob, body: { model: `sim-${x}`, input: 'hello' } }),
        (x) => ({ path: '/v1/chat/completions', key: `sk-${x}`, body: chat(`sim-${x}`) }), // 401
        (x) => ({ path: `/v1/files/file-${x}`, method: 'GET', key: KEYS.alice }), // no model, no route: 404
      ]);
      assert.deepEqual(Object.fromEntries([...r.statuses].sort()), { 200: countKinds(N, 6, [0, 1, 3]), 401: countKinds(N, 6, [4]), 404: countKinds(N, 6, [2, 5]) });
      assertBounded(r, ['sim-*', 'up-*', 'other'], 12);
    } finally {
      await p.close();
    }
  });

  it('a "*" catch-all to an upstream: every random name routes, all under one label', async () => {
    const p = await startRouting('*');
    try {
      const r = await drive(p, [
        (x) => ({ path: '/v1/chat/completions', key: KEYS.alice, body: chat(`sim-${x}`, true) }),
        (x) => ({ path: '/v1/chat/completions', key: KEYS.bob, body: chat(x) }),
        (x) => ({ path: '/v1/embeddings', key: KEYS.alice, body: { model: `emb-${x}`, input: 'hello' } }),
        (x) => ({ path: `/v1/files/file-${x}`, method: 'GET', key: KEYS.bob }), // catch-all → upstream 404
        (x) => ({ path: '/v1/chat/completions', key: `sk-${x}`, body: chat(x) }), // 401
      ]);
      assert.deepEqual(Object.fromEntries([...r.statuses].sort()), { 200: countKinds(N, 5, [0, 1, 2]), 401: countKinds(N, 5, [4]), 404: countKinds(N, 5, [3]) });
      assertBounded(r, ['sim-*', '*', 'other'], 12);
    } finally {
      await p.close();
    }
  });
});

/** How many of requests 0..n-1 fall on the given kinds when `k` kinds are sent in turn. */
function countKinds(n: number, k: number, kinds: number[]): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (kinds.includes(i % k)) c++;
  return c;
}

// ---------------------------------------------------------------------------------------------

describe('metrics over HTTP: GET /metrics behind metrics.token', function () {
  let p: TestProxy;
  before(async () => {
    p = await startTestProxy({ config: { metrics: { token: 'metrics-secret-123' } } });
  });
  after(async () => p?.close());

  it('401 without a bearer, with a wrong one, or with another scheme; 200 with the right one', async () => {
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-secret' }, { authorization: 'Bearer ' }, { authorization: 'Basic metrics-secret-123' }, { authorization: 'metrics-secret-123' }];
    for (const headers of attempts) {
      const r = await scrape(p, headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      const body = JSON.parse(r.text) as { error: { type: string; message: string } };
      assert.equal(typeof body.error.message, 'string');
      assert.doesNotMatch(r.text, /llm_proxy_/);
      assert.doesNotMatch(r.text, /metrics-secret-123/);
    }
    const ok = await scrape(p, { authorization: 'Bearer metrics-secret-123' });
    assert.equal(ok.status, 200);
    assert.match(ok.type ?? '', /^text\/plain/);
    assert.match(ok.text, /^# TYPE llm_proxy_requests_total counter$/m);
  });

  it('the token guards /metrics only: the API and health endpoints do not need it', async () => {
    assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
    const r = await fetch(`${p.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200);
  });
});
