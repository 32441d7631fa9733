import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { configSchema, type Config } from '../../src/config/schema.js';
import { EventBus } from '../../src/events/bus.js';
import type { RequestRecord } from '../../src/events/types.js';
import { BUCKETS, attachMetrics, createMetrics, noopMetrics, type ProxyMetrics } from '../../src/metrics.js';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';
import { NO_GAPS } from '../../src/events/gaps.js';
import { gapsOf } from '../helpers/gaps.js';

const config: Config = configSchema.parse({
  upstreams: { sim: { type: 'sim' }, openai: { type: 'openai', baseUrl: 'https://api.openai.com/v1' } },
  models: [
    { match: 'gpt-4o', upstream: 'openai' },
    { match: 'gpt-4o-mini', upstream: 'openai' },
    { match: 'sim-*', upstream: 'sim' },
  ],
  keys: [
    { name: 'alice', key: 'sk-alice-secret' },
    { name: 'bob', key: 'sk-bob-secret' },
  ],
  metrics: { prices: { 'gpt-4o': { prompt: 2.5, completion: 10, cachedPrompt: 1.25 }, 'sim-*': { prompt: 1, completion: 1 } } },
});

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'req-1',
    method: 'POST',
    route: '/v1/chat/completions',
    key: 'alice',
    model: 'gpt-4o',
    modelLabel: 'gpt-4o',
    upstream: 'openai',
    stream: true,
    status: 200,
    endReason: 'done',
    startedAt: 1_700_000_000_000,
    upstreamTtfbMs: 100,
    ttftMs: 250,
    durationMs: 1500,
    overheadMs: 0.4,
    chunks: 4,
    bytesOut: 400,
    promptTokens: 10,
    completionTokens: 3,
    tokenSource: 'upstream',
    finishReason: 'stop',
    attempts: [{ upstream: 'openai', status: 200, error: null, durationMs: 1400 }],
    error: null,
    interToken: gapsOf([20, 30]),
    ...over,
  };
}

interface Row {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

function setup(): { registry: Registry; bus: EventBus; m: ProxyMetrics; detach: () => void } {
  const registry = new Registry();
  const bus = new EventBus();
  const m = createMetrics(registry, config);
  const detach = attachMetrics(bus, m);
  return { registry, bus, m, detach };
}

async function rows(registry: Registry, name: string): Promise<Row[]> {
  const metric = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  assert.ok(metric, `${name} is registered`);
  return metric.values as Row[];
}

/** The value of the one row of `name` (or `name_suffix`) whose labels include `labels`. */
async function value(registry: Registry, name: string, labels: Record<string, string | number>, metricName = name): Promise<number | undefined> {
  const match = (await rows(registry, name)).filter(
    (r) => (r.metricName ?? name) === metricName && Object.entries(labels).every(([k, v]) => r.labels[k] === v),
  );
  assert.ok(match.length <= 1, `${metricName} ${JSON.stringify(labels)} matches one row`);
  return match[0]?.value;
}

/** Distinct label sets (series, ignoring `le`) per llm_proxy_* metric. */
async function seriesCounts(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith('llm_proxy_')) continue;
    const sets = new Set(
      (metric.values as Row[]).map((r) => {
        const { le: _le, ...rest } = r.labels;
        return JSON.stringify(Object.entries(rest).sort());
      }),
    );
    out.set(metric.name, sets.size);
  }
  return out;
}

describe('metrics: the DESIGN.md table', () => {
  it('registers every metric with exactly its type and labels, plus the default process metrics', async () => {
    const { registry } = setup();
    await registry.metrics(); // collect once so callback metrics have their rows
    const expected: Record<string, [string, string[]]> = {
      llm_proxy_requests_total: ['counter', ['route', 'model', 'key', 'status']],
      llm_proxy_request_duration_seconds: ['histogram', ['route', 'model', 'stream']],
      llm_proxy_time_to_first_token_seconds: ['histogram', ['model']],
      llm_proxy_inter_token_latency_seconds: ['histogram', ['model']],
      llm_proxy_tokens_total: ['counter', ['model', 'key', 'type', 'source']],
      llm_proxy_active_streams: ['gauge', ['model']],
      llm_proxy_upstream_requests_total: ['counter', ['upstream', 'status']],
      llm_proxy_rate_limited_total: ['counter', ['key', 'limit']],
      llm_proxy_client_aborts_total: ['counter', ['model']],
      llm_proxy_cost_usd_total: ['counter', ['model', 'key']],
      llm_proxy_overhead_seconds: ['histogram', ['model']],
      llm_proxy_rate_limit_remaining: ['gauge', ['key', 'limit']],
      llm_proxy_limiter_store_errors_total: ['counter', []],
      llm_proxy_limiter_store_up: ['gauge', []],
      llm_proxy_budget_spent_usd: ['gauge', ['budget']],
      llm_proxy_budget_limit_usd: ['gauge', ['budget']],
      llm_proxy_upstream_up: ['gauge', ['upstream']],
      llm_proxy_events_dropped_total: ['counter', []],
      llm_proxy_refused_total: ['counter', ['reason']],
      llm_proxy_auth_failures_total: ['counter', []],
      llm_proxy_config_reloads_total: ['counter', ['result']],
      llm_proxy_config_info: ['gauge', ['digest']],
      llm_proxy_resumable_streams_total: ['counter', ['result']],
      llm_proxy_stream_resumes_total: ['counter', ['result']],
      llm_proxy_replay_bytes: ['gauge', []],
      llm_proxy_replay_streams: ['gauge', []],
    };
    const registered = registry.getMetricsAsArray().filter((x) => x.name.startsWith('llm_proxy_'));
    assert.deepEqual(registered.map((x) => x.name).sort(), Object.keys(expected).sort());
    for (const metric of registered) {
      const [type, labels] = expected[metric.name]!;
      const meta = metric as unknown as { type: string; labelNames: readonly string[] };
      assert.equal(String(meta.type), type, metric.name);
      assert.deepEqual([...meta.labelNames], labels, metric.name);
    }
    const text = await registry.metrics();
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(text, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
  });

  it('uses the LLM bucket layouts (TTFT 50 ms–60 s, inter-token 1 ms–2 s, duration to 300 s, overhead 0.1–100 ms)', async () => {
    const { registry, bus } = setup();
    bus.emit('request.end', record());
    const les = async (name: string) =>
      (await rows(registry, name)).filter((r) => r.metricName === `${name}_bucket` && r.labels.le !== '+Inf').map((r) => r.labels.le);
    assert.deepEqual(await les('llm_proxy_time_to_first_token_seconds'), [...BUCKETS.timeToFirstToken]);
    assert.equal(BUCKETS.timeToFirstToken[0], 0.05);
    assert.equal(BUCKETS.timeToFirstToken.at(-1), 60);
    assert.deepEqual(await les('llm_proxy_inter_token_latency_seconds'), [...BUCKETS.interToken]);
    assert.equal(BUCKETS.interToken[0], 0.001);
    assert.equal(BUCKETS.interToken.at(-1), 2);
    assert.equal(BUCKETS.requestDuration.at(-1), 300);
    assert.deepEqual(await les('llm_proxy_overhead_seconds'), [...BUCKETS.overhead]);
  });
});

describe('metrics: fed from the lifecycle bus', () => {
  it('counts a finished stream in every metric it touches, with exact values', async () => {
    const { registry, bus } = setup();
    bus.emit('request.end', record());
    bus.emit('request.end', record({ id: 'req-2', key: 'bob', ttftMs: 900, durationMs: 3000, interToken: gapsOf([5]), promptTokens: 20, completionTokens: 7 }));

    const R = 'llm_proxy_requests_total';
    assert.equal(await value(registry, R, { route: '/v1/chat/completions', model: 'gpt-4o', key: 'alice', status: '200' }), 1);
    assert.equal(await value(registry, R, { route: '/v1/chat/completions', model: 'gpt-4o', key: 'bob', status: '200' }), 1);

    const D = 'llm_proxy_request_duration_seconds';
    const dl = { route: '/v1/chat/completions', model: 'gpt-4o', stream: 'true' };
    assert.equal(await value(registry, D, dl, `${D}_count`), 2);
    assert.equal(await value(registry, D, dl, `${D}_sum`), 4.5);
    assert.equal(await value(registry, D, { ...dl, le: 1 }, `${D}_bucket`), 0);
    assert.equal(await value(registry, D, { ...dl, le: 2.5 }, `${D}_bucket`), 1);
    assert.equal(await value(registry, D, { ...dl, le: 5 }, `${D}_bucket`), 2);
    assert.equal(await value(registry, D, { ...dl, le: '+Inf' }, `${D}_bucket`), 2);

    const T = 'llm_proxy_time_to_first_token_seconds';
    assert.equal(await value(registry, T, { model: 'gpt-4o', le: 0.3 }, `${T}_bucket`), 1);
    assert.equal(await value(registry, T, { model: 'gpt-4o', le: 1 }, `${T}_bucket`), 2);
    assert.equal(await value(registry, T, { model: 'gpt-4o' }, `${T}_sum`), 1.15);

    const I = 'llm_proxy_inter_token_latency_seconds';
    assert.equal(await value(registry, I, { model: 'gpt-4o' }, `${I}_count`), 3);
    assert.equal(await value(registry, I, { model: 'gpt-4o', le: 0.005 }, `${I}_bucket`), 1);
    assert.equal(await value(registry, I, { model: 'gpt-4o', le: 0.02 }, `${I}_bucket`), 2);

    const K = 'llm_proxy_tokens_total';
    assert.equal(await value(registry, K, { model: 'gpt-4o', key: 'alice', type: 'prompt', source: 'upstream' }), 10);
    assert.equal(await value(registry, K, { model: 'gpt-4o', key: 'alice', type: 'completion', source: 'upstream' }), 3);
    assert.equal(await value(registry, K, { model: 'gpt-4o', key: 'bob', type: 'prompt', source: 'upstream' }), 20);
    assert.equal(await value(registry, K, { model: 'gpt-4o', key: 'bob', type: 'completion', source: 'upstream' }), 7);

    const O = 'llm_proxy_overhead_seconds';
    assert.equal(await value(registry, O, { model: 'gpt-4o' }, `${O}_count`), 2);
    assert.equal(await value(registry, O, { model: 'gpt-4o', le: 0.0005 }, `${O}_bucket`), 2);

    assert.equal(await value(registry, 'llm_proxy_upstream_requests_total', { upstream: 'openai', status: '200' }), 2);
    assert.equal((await rows(registry, 'llm_proxy_client_aborts_total')).length, 0);
  });

  it('counts estimated tokens apart, client aborts, and every upstream attempt (no response → "error")', async () => {
    const { registry, bus } = setup();
    bus.emit(
      'request.end',
      record({
        status: 200,
        endReason: 'client_aborted',
        tokenSource: 'estimated',
        promptTokens: 12,
        completionTokens: 4,
        attempts: [
          { upstream: 'openai', status: null, error: 'ECONNREFUSED', durationMs: 1 },
          { upstream: 'openai', status: 503, error: 'unavailable', durationMs: 5 },
          { upstream: 'sim', status: 200, error: null, durationMs: 50 },
        ],
      }),
    );
    const K = 'llm_proxy_tokens_total';
    assert.equal(await value(registry, K, { key: 'alice', type: 'prompt', source: 'estimated' }), 12);
    assert.equal(await value(registry, K, { key: 'alice', type: 'completion', source: 'estimated' }), 4);
    assert.equal(await value(registry, K, { source: 'upstream' }), undefined);
    assert.equal(await value(registry, 'llm_proxy_client_aborts_total', { model: 'gpt-4o' }), 1);
    const U = 'llm_proxy_upstream_requests_total';
    assert.equal(await value(registry, U, { upstream: 'openai', status: 'error' }), 1);
    assert.equal(await value(registry, U, { upstream: 'openai', status: '503' }), 1);
    assert.equal(await value(registry, U, { upstream: 'sim', status: '200' }), 1);
  });

  it('skips what a record does not have: no TTFT, no overhead, no tokens, no gaps', async () => {
    const { registry, bus } = setup();
    bus.emit('request.end', record({ status: 429, endReason: 'rate_limited', ttftMs: null, overheadMs: null, promptTokens: null, completionTokens: null, tokenSource: null, interToken: NO_GAPS, attempts: [] }));
    assert.equal(await value(registry, 'llm_proxy_requests_total', { status: '429' }), 1);
    for (const name of ['llm_proxy_time_to_first_token_seconds', 'llm_proxy_overhead_seconds', 'llm_proxy_inter_token_latency_seconds', 'llm_proxy_tokens_total', 'llm_proxy_cost_usd_total', 'llm_proxy_upstream_requests_total']) {
      assert.equal((await rows(registry, name)).length, 0, name);
    }
  });

  it('prices tokens by the requested model, else by its label; nothing where no price is set', async () => {
    const { registry, bus } = setup();
    bus.emit('request.end', record({ promptTokens: 1_000_000, completionTokens: 500_000 }));
    bus.emit('request.end', record({ model: 'sim-echo', modelLabel: 'sim-*', promptTokens: 300, completionTokens: 700, tokenSource: 'estimated' }));
    bus.emit('request.end', record({ model: 'gpt-4o-mini', modelLabel: 'gpt-4o-mini' }));
    const C = 'llm_proxy_cost_usd_total';
    assert.equal(await value(registry, C, { model: 'gpt-4o', key: 'alice' }), 2.5 + 5);
    assert.equal(await value(registry, C, { model: 'sim-*', key: 'alice' }), 0.001);
    assert.equal(await value(registry, C, { model: 'gpt-4o-mini' }), undefined);
  });

  it('prices cached prompt tokens at cachedPrompt, or at prompt when the price has none', async () => {
    const { registry, bus } = setup();
    // 600k uncached at $2.5 + 400k cached at $1.25 + 100k completion at $10, per million.
    bus.emit('request.end', record({ promptTokens: 1_000_000, completionTokens: 100_000, cachedTokens: 400_000 }));
    // sim-* has no cachedPrompt: every prompt token at $1 per million, cached or not.
    bus.emit('request.end', record({ model: 'sim-echo', modelLabel: 'sim-*', promptTokens: 600_000, completionTokens: 0, cachedTokens: 500_000 }));
    const C = 'llm_proxy_cost_usd_total';
    assert.equal(await value(registry, C, { model: 'gpt-4o', key: 'alice' }), 1.5 + 0.5 + 1);
    assert.equal(await value(registry, C, { model: 'sim-*', key: 'alice' }), 0.6);
  });

  it('tracks open streams from stream.open / stream.close', async () => {
    const { registry, bus } = setup();
    const ev = (id: string, modelLabel: string) => ({ id, model: modelLabel, modelLabel });
    bus.emit('stream.open', ev('a', 'gpt-4o'));
    bus.emit('stream.open', ev('b', 'gpt-4o'));
    bus.emit('stream.open', ev('c', 'sim-*'));
    bus.emit('stream.close', ev('a', 'gpt-4o'));
    const A = 'llm_proxy_active_streams';
    assert.equal(await value(registry, A, { model: 'gpt-4o' }), 1);
    assert.equal(await value(registry, A, { model: 'sim-*' }), 1);
    bus.emit('stream.close', ev('b', 'gpt-4o'));
    bus.emit('stream.close', ev('c', 'sim-*'));
    assert.equal(await value(registry, A, { model: 'gpt-4o' }), 0);
    assert.equal(await value(registry, A, { model: 'sim-*' }), 0);
  });

  it('counts request.rate_limited by key and limit (an unknown limit kind becomes "other")', async () => {
    const { registry, bus } = setup();
    const ev = (limit: string) => ({ id: 'r', key: 'alice', limit, model: 'gpt-4o', retryAfterMs: 100, at: 0 });
    bus.emit('request.rate_limited', ev('requests'));
    bus.emit('request.rate_limited', ev('requests'));
    bus.emit('request.rate_limited', ev('tokens'));
    bus.emit('request.rate_limited', ev('weird'));
    const L = 'llm_proxy_rate_limited_total';
    assert.equal(await value(registry, L, { key: 'alice', limit: 'requests' }), 2);
    assert.equal(await value(registry, L, { key: 'alice', limit: 'tokens' }), 1);
    assert.equal(await value(registry, L, { key: 'alice', limit: 'other' }), 1);
  });

  it('reads dropped events from the bus at scrape time; detaching stops everything', async () => {
    const { registry, bus, detach } = setup();
    const E = 'llm_proxy_events_dropped_total';
    assert.equal(await value(registry, E, {}), 0);
    bus.dropped = 7;
    assert.equal(await value(registry, E, {}), 7);
    bus.emit('request.end', record());
    detach();
    bus.emit('request.end', record());
    bus.emit('stream.open', { id: 'x', model: 'gpt-4o', modelLabel: 'gpt-4o' });
    assert.equal(await value(registry, 'llm_proxy_requests_total', { key: 'alice' }), 1);
    assert.equal((await rows(registry, 'llm_proxy_active_streams')).length, 0);
    assert.equal(await value(registry, E, {}), 0);
    assert.equal(bus.listenerErrors, 0);
  });
});

describe('metrics: limiter and resilience hooks', () => {
  it('limiter observer: remaining budget per key and limit, store failures and recovery', async () => {
    const { registry, m } = setup();
    const lim = m.limiterObserver();
    lim.remaining('alice', 'requests', 4);
    lim.remaining('alice', 'tokens', 19_000);
    lim.remaining('alice', 'requests', 3);
    assert.equal(await value(registry, 'llm_proxy_rate_limit_remaining', { key: 'alice', limit: 'requests' }), 3);
    assert.equal(await value(registry, 'llm_proxy_rate_limit_remaining', { key: 'alice', limit: 'tokens' }), 19_000);
    assert.equal(await value(registry, 'llm_proxy_limiter_store_up', {}), 1);
    lim.storeFailure();
    lim.storeFailure();
    assert.equal(await value(registry, 'llm_proxy_limiter_store_errors_total', {}), 2);
    assert.equal(await value(registry, 'llm_proxy_limiter_store_up', {}), 0);
    lim.storeRecovered();
    assert.equal(await value(registry, 'llm_proxy_limiter_store_up', {}), 1);
  });

  it('upstream up/down and abuse refusals (every reason starts at 0)', async () => {
    const { registry, m } = setup();
    m.setUpstreamUp('openai', false);
    m.setUpstreamUp('sim', true);
    assert.equal(await value(registry, 'llm_proxy_upstream_up', { upstream: 'openai' }), 0);
    assert.equal(await value(registry, 'llm_proxy_upstream_up', { upstream: 'sim' }), 1);
    const F = 'llm_proxy_refused_total';
    assert.deepEqual((await rows(registry, F)).map((r) => [r.labels.reason, r.value]), [
      ['connections', 0], ['header_size', 0], ['body_size', 0], ['headers_timeout', 0], ['request_timeout', 0], ['stream_duration', 0], ['auth_failures', 0],
    ]);
    m.refused('body_size');
    m.refused('connections');
    m.refused('connections');
    assert.equal(await value(registry, F, { reason: 'connections' }), 2);
    assert.equal(await value(registry, F, { reason: 'body_size' }), 1);
  });

  it('noopMetrics records nothing and hands out a working no-op limiter observer', () => {
    noopMetrics.recordRequest(record());
    noopMetrics.limiterObserver().remaining('a', 'requests', 1);
    noopMetrics.limiterObserver().storeFailure();
    assert.ok(Object.isFrozen(noopMetrics));
  });
});

describe('metrics: bounded labels', () => {
  const labels = ['gpt-4o', 'gpt-4o-mini', 'sim-*', 'other'] as const;

  it('1,000 requests with random raw model names keep every llm_proxy_* series count bounded', async () => {
    const { registry, bus } = setup();
    const rawModels = new Set<string>();
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.constantFrom(...labels),
        fc.constantFrom('alice', 'bob', 'anonymous'),
        fc.constantFrom(200, 400, 429, 502),
        fc.boolean(),
        (model, modelLabel, key, status, stream) => {
          rawModels.add(model);
          bus.emit('stream.open', { id: model, model, modelLabel });
          bus.emit('request.end', record({ model, modelLabel, key, status, stream, endReason: stream ? 'done' : 'client_aborted' }));
          bus.emit('stream.close', { id: model, model, modelLabel });
        },
      ),
      { numRuns: 1000 },
    );
    assert.ok(rawModels.size > 500, 'the run used many distinct raw model names');
    const counts = await seriesCounts(registry);
    const L = labels.length;
    const bounds: Record<string, number> = {
      llm_proxy_requests_total: L * 3 * 4,
      llm_proxy_request_duration_seconds: L * 2,
      llm_proxy_time_to_first_token_seconds: L,
      llm_proxy_inter_token_latency_seconds: L,
      llm_proxy_tokens_total: L * 3 * 2,
      llm_proxy_active_streams: L,
      llm_proxy_upstream_requests_total: 1,
      llm_proxy_client_aborts_total: L,
      llm_proxy_cost_usd_total: 2 * 3, // only gpt-4o and sim-* have prices
      llm_proxy_overhead_seconds: L,
      llm_proxy_refused_total: 7, // one series per refusal reason
    };
    for (const [name, n] of counts) {
      assert.ok(n <= (bounds[name] ?? 6), `${name}: ${n} series`);
    }
    const text = await registry.metrics();
    const leaked = [...rawModels].filter((m) => m.length > 8 && !labels.includes(m as never) && text.includes(`"${m}"`));
    assert.deepEqual(leaked, [], 'no raw model name appears as a label value');
    assert.ok(!text.includes('sk-alice-secret'), 'no key secret in the output');
  });

  it('caps a label anyway when a bug upstream passes unbounded values: extras become "other"', async () => {
    const { registry, bus } = setup();
    for (let i = 0; i < 1000; i++) bus.emit('request.end', record({ modelLabel: `leak-${i}`, key: `k-${i}`, route: `/v1/x/${i}` }));
    const counts = await seriesCounts(registry);
    // 64 spare values per dimension beyond config (models: 3 routes + other; keys: 2 + anonymous).
    assert.ok(counts.get('llm_proxy_time_to_first_token_seconds')! <= 64 + 1);
    assert.ok(counts.get('llm_proxy_requests_total')! <= 64 + 1);
    assert.equal(await value(registry, 'llm_proxy_time_to_first_token_seconds', { model: 'other' }, 'llm_proxy_time_to_first_token_seconds_count'), 1000 - 64);
  });
});

describe('metrics: FastHistogram', () => {
  const buckets = [0.001, 0.01, 0.1, 1];

  it('renders exactly what a prom-client Histogram renders, as text and as JSON', async () => {
    const fast = new Registry();
    const ref = new Registry();
    const f = new FastHistogram({ name: 'h_seconds', help: 'A histogram.', labelNames: ['model', 'route'], buckets, registers: [fast] });
    const h = new Histogram({ name: 'h_seconds', help: 'A histogram.', labelNames: ['model', 'route'], buckets, registers: [ref] });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b"q\\'), fc.constantFrom('/x', '/y'), fc.double({ min: 0, max: 5, noNaN: true })), { maxLength: 50 }), (obs) => {
        for (const [m, r, v] of obs) {
          f.labels(m, r).observe(v);
          h.labels(m, r).observe(v);
        }
      }),
      { numRuns: 50 },
    );
    assert.equal(await fast.metrics(), await ref.metrics());
    assert.deepEqual(await fast.getMetricsAsJSON(), await ref.getMetricsAsJSON());
  });

  it('a reset empties the output, and cached children keep working after it', async () => {
    const registry = new Registry();
    const f = new FastHistogram({ name: 'r_seconds', help: 'h', labelNames: ['model'], buckets, registers: [registry] });
    const child = f.labels('m');
    child.observe(0.5);
    registry.resetMetrics();
    assert.equal((await registry.getMetricsAsJSON())[0]!.values.length, 0);
    child.observe(0.05);
    child.observe(Number.NaN); // ignored, never thrown
    const json = (await registry.getMetricsAsJSON())[0]!.values as Row[];
    assert.equal(json.find((r) => r.metricName === 'r_seconds_count')!.value, 1);
    assert.equal(json.find((r) => r.metricName === 'r_seconds_sum')!.value, 0.05);
  });

  it('refuses a wrong label count, unsorted buckets and an `le` label', () => {
    const f = new FastHistogram({ name: 'x_seconds', help: 'h', labelNames: ['a'], buckets, registers: [] });
    assert.throws(() => f.labels('1', '2'));
    assert.throws(() => new FastHistogram({ name: 'y', help: 'h', labelNames: [], buckets: [1, 0.5], registers: [] }));
    assert.throws(() => new FastHistogram({ name: 'z', help: 'h', labelNames: ['le'], buckets, registers: [] }));
  });
});
