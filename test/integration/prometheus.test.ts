/**
 * A real Prometheus (Debian's `prometheus`, started by the test on a free loopback port) scrapes
 * the test proxy every second (issue 3). Traffic from two keys goes through the openai SDK; then
 * Prometheus's HTTP API must answer the questions users ask with the numbers that were sent:
 * tokens per key and type exactly, and a TTFT median inside the bucket that holds the simulator's
 * configured time to first token. No mock of Prometheus.
 *
 * Timing: Prometheus takes its first sample ≈6 s after start (services.md §1), so the test polls;
 * it never sleeps a fixed time.
 */
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RequestRecord } from '../../src/events/types.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { promQuery, startPrometheus, waitForSeries, type Prom } from '../helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value (not undefined), at most `timeoutMs`. */
async function pollFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** The simulator's prompt count: ceil(characters / 4), at least 1. */
const simPrompt = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

describe('Prometheus scrapes the proxy (real prometheus)', function () {
  this.timeout(45_000);
  const KEYS = { alice: 'sk-alice-prom-test', bob: 'sk-bob-prom-test' };
  const TTFT_MS = 120; // → the (0.1, 0.2] s bucket of llm_proxy_time_to_first_token_seconds
  let p: TestProxy;
  let prom: Prom | undefined;
  const ended: RequestRecord[] = [];
  /** Tokens sent, by `key,type`. */
  const expected: Record<string, number> = {};
  const add = (key: string, prompt: number, completion: number): void => {
    expected[`${key},prompt`] = (expected[`${key},prompt`] ?? 0) + prompt;
    expected[`${key},completion`] = (expected[`${key},completion`] ?? 0) + completion;
  };
  const clientFor = (key: keyof typeof KEYS) => new OpenAI({ baseURL: p.baseURL, apiKey: KEYS[key], maxRetries: 0 });

  async function stream(key: keyof typeof KEYS, content: string, maxTokens: number, includeUsage = false): Promise<void> {
    const s = await clientFor(key).chat.completions.create({
      model: 'sim-1',
      messages: [{ role: 'user', content }],
      max_tokens: maxTokens,
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    let n = 0;
    for await (const c of s) if (c.choices[0]?.delta.content) n++;
    assert.equal(n, maxTokens);
    add(key, simPrompt(content), maxTokens);
  }

  before(async () => {
    p = await startTestProxy({
      config: {
        upstreams: { sim: { type: 'sim', sim: { ttftMs: TTFT_MS, tokenDelayMs: 5, defaultMaxTokens: 6 } } },
        keys: [
          { name: 'alice', key: KEYS.alice },
          { name: 'bob', key: KEYS.bob },
        ],
      },
    });
    p.deps.bus.on('request.end', (r) => ended.push(r));
    // One stream before the first scrape, so the TTFT series already exists when Prometheus
    // first samples it and rate() sees the main traffic as an increase.
    await stream('alice', 'warm up', 2);
    prom = await startPrometheus([`127.0.0.1:${p.port}`]);
  });

  after(async () => {
    await prom?.stop();
    await p?.close();
  });

  it('answers sum by (key, type) (llm_proxy_tokens_total) exactly, and a TTFT median in the configured bucket', async () => {
    const url = prom!.url;
    // The first scrape (≈6 s after start) holds the warm-up stream.
    await waitForSeries(url, 'llm_proxy_time_to_first_token_seconds_count{job="proxy"}', 20_000);

    // Traffic: alice 3 streams (one asking for usage), bob 2 streams and a non-stream request.
    await stream('alice', 'What is the capital of France?', 5, true);
    await stream('alice', 'Name three colours.', 4);
    await stream('alice', 'Count to ten.', 3);
    await stream('bob', 'Tell me a joke.', 4);
    await stream('bob', 'Translate hello into Spanish, please.', 6, true);
    const bobJson = await clientFor('bob').chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'Summarise this sentence.' }], max_tokens: 7 });
    assert.equal(bobJson.usage?.completion_tokens, 7);
    add('bob', simPrompt('Summarise this sentence.'), 7);
    await pollFor('the proxy to finish 7 requests', async () => (ended.length >= 7 ? true : undefined), 5_000);
    const lastRequestEnd = Date.now() / 1000;

    // Wait for a scrape that started after the last request ended.
    await pollFor('a scrape newer than the last request', async () => {
      const up = await promQuery(url, 'timestamp(up{job="proxy"})');
      return up.length === 1 && Number(up[0]!.value[1]) > lastRequestEnd ? true : undefined;
    });
    const upNow = await promQuery(url, 'up{job="proxy"}');
    assert.equal(upNow[0]?.value[1], '1', 'the proxy target is up');

    // Tokens per key and type: exactly what was sent.
    const tokens = await promQuery(url, 'sum by (key, type) (llm_proxy_tokens_total)');
    const got = Object.fromEntries(tokens.map((r) => [`${r.metric.key},${r.metric.type}`, Number(r.value[1])]));
    assert.deepEqual(got, expected);
    // All of it reported by the upstream, none estimated.
    const bySource = await promQuery(url, 'sum by (source) (llm_proxy_tokens_total)');
    assert.deepEqual(bySource.map((r) => r.metric.source), ['upstream']);
    // Requests per key and status.
    const requests = await promQuery(url, 'sum by (key, status) (llm_proxy_requests_total)');
    assert.deepEqual(Object.fromEntries(requests.map((r) => [`${r.metric.key},${r.metric.status}`, Number(r.value[1])])), { 'alice,200': 4, 'bob,200': 3 });

    // TTFT: every stream waited 120 ms for its first token → the (0.1, 0.2] bucket.
    const inBucket = (q: string) => async () => {
      const res = await promQuery(url, q);
      if (res.length !== 1) return undefined;
      const v = Number(res[0]!.value[1]);
      return Number.isNaN(v) ? undefined : v;
    };
    const overRate = await pollFor('a TTFT rate quantile', inBucket('histogram_quantile(0.5, sum by (le) (rate(llm_proxy_time_to_first_token_seconds_bucket[1m])))'));
    assert.ok(overRate > 0.1 && overRate <= 0.2, `p50 TTFT over rate[1m] = ${overRate} s, in (0.1, 0.2]`);
    const overBuckets = await pollFor('a TTFT bucket quantile', inBucket('histogram_quantile(0.5, sum by (le) (llm_proxy_time_to_first_token_seconds_bucket))'));
    assert.ok(overBuckets > 0.1 && overBuckets <= 0.2, `p50 TTFT over the raw buckets = ${overBuckets} s, in (0.1, 0.2]`);
    const p95 = await pollFor('a TTFT p95', inBucket('histogram_quantile(0.95, sum by (le) (llm_proxy_time_to_first_token_seconds_bucket))'));
    assert.ok(p95 > 0.1 && p95 <= 0.2, `p95 TTFT = ${p95} s, in (0.1, 0.2]`);
    // 6 streams observed a TTFT (the non-stream request has none).
    const count = await promQuery(url, 'sum(llm_proxy_time_to_first_token_seconds_count)');
    assert.equal(Number(count[0]?.value[1]), 6);
  });
});
