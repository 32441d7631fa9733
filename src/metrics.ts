/**
 * Every Prometheus metric of the proxy (README "Metrics: Prometheus and Grafana"), in an injected
 * registry. Metrics never see a request directly: {@link attachMetrics} subscribes inline to the
 * lifecycle bus, and the limiter and resilience code call the narrow methods of
 * {@link ProxyMetrics}. Per-request work is a few Map lookups on cached children and array
 * increments: label values are bounded once, then reused.
 */
import type { Registry } from 'prom-client';
import type { Config } from './config/schema.js';
import type { EventBus } from './events/bus.js';
import type { RequestRecord } from './events/types.js';
import { defineMetrics } from './metrics/definitions.js';
import type { HistogramChild } from './metrics/fast-histogram.js';
import { Children, LabelBound, OTHER } from './metrics/labels.js';

export { BUCKETS } from './metrics/definitions.js';

/** The limits a key can hit (README "How limits count"). */
export type RateLimitKind = 'requests' | 'tokens' | 'concurrency';
const RATE_LIMIT_KINDS: ReadonlySet<string> = new Set<RateLimitKind>(['requests', 'tokens', 'concurrency']);

/** Abuse limits that refuse or end a request (src/http/abuse-limits.ts). */
export type RefusalReason =
  | 'connections' // server.maxConnections reached
  | 'header_size' // request headers too large (431)
  | 'body_size' // body above server.maxBodyBytes (413)
  | 'headers_timeout' // slowloris: headers not complete within server.headersTimeoutMs
  | 'request_timeout' // whole request not received within server.requestTimeoutMs
  | 'stream_duration' // stream ended at server.maxStreamDurationMs
  | 'auth_failures'; // an address past server.authFailures (src/http/auth-throttle.ts)
const REFUSAL_REASONS: readonly RefusalReason[] = ['connections', 'header_size', 'body_size', 'headers_timeout', 'request_timeout', 'stream_duration', 'auth_failures'];

/**
 * What the limiter (src/limits/limiter.ts) reports. Refusals are not here: they are counted once, from the bus
 * event `request.rate_limited`, so a limiter that also called a method could not count twice.
 */
export interface LimiterObserver {
  /** Remaining budget of `key` for `limit` after an admission (→ llm_proxy_rate_limit_remaining). */
  remaining(key: string, limit: RateLimitKind, n: number): void;
  /** A budget's spend and limit in USD (→ llm_proxy_budget_spent_usd, llm_proxy_budget_limit_usd). */
  budget(name: string, spentUsd: number, limitUsd: number): void;
  /** One store operation failed (Redis unreachable); call for each, also when served locally. */
  storeFailure(): void;
  /** The store answers again. */
  storeRecovered(): void;
}

export interface ProxyMetrics {
  /** A finished request (`request.end`). */
  recordRequest(r: RequestRecord): void;
  streamOpened(modelLabel: string): void;
  streamClosed(modelLabel: string): void;
  /** A request refused by a limit (`request.rate_limited`). */
  rateLimited(key: string, limit: string): void;
  limiterObserver(): LimiterObserver;
  /** Circuit state of an upstream deployment (src/upstream/breaker.ts): true = closed or half-open. */
  setUpstreamUp(upstream: string, up: boolean): void;
  refused(reason: RefusalReason): void;
  /** A request answered 401 (a missing or wrong key, token or session). */
  authFailed(): void;
  /** A reloaded configuration's names (label bounds), prices and budgets. */
  reconfigure(config: Config): void;
  /** A configuration reload ended: `success` (swapped), `unchanged`, or `error` (refused). */
  configReloaded(result: 'success' | 'unchanged' | 'error'): void;
  /** The configuration in use now, by digest (`llm_proxy_config_info`). */
  configLoaded(digest: string): void;
  /** Where `llm_proxy_events_dropped_total` reads its value at scrape time (the bus). */
  eventsDroppedFrom(source: (() => number) | null): void;
  /** A stream asked to be resumable: stored, refused (instance bound), or it overflowed its per-stream bound. */
  resumable(result: 'stored' | 'refused' | 'overflow'): void;
  /** A read of a resumable stream ended (GET /v1/streams/{id}). */
  streamRead(result: StreamReadResult): void;
  /** Where the replay gauges read the store's counts at scrape time. */
  replayStatsFrom(source: (() => { streams: number; bytes: number }) | null): void;
}

/** How a read of a resumable stream ended (`llm_proxy_stream_resumes_total{result}`). */
export type StreamReadResult = 'replayed' | 'finished' | 'not_found' | 'lost' | 'overflow' | 'error';

/** Unknown label values allowed per dimension beyond those named in config (see LabelBound). */
const SPARE_LABEL_VALUES = 64;

/**
 * Register every metric in `registry` (plus Node's default process metrics). Call once per
 * registry: prom-client refuses a second registration of the same names.
 *
 * Cost: `llm_proxy_cost_usd_total` uses `config.metrics.prices`, looked up by the model the
 * caller asked for (`record.model`) and then by its label (`record.modelLabel`, so a route's glob
 * or `label` can carry one price); the series is always labelled with `modelLabel`. Estimated
 * tokens are priced like reported ones; cached prompt tokens (`record.cachedTokens`) at the
 * price's `cachedPrompt`.
 */
export function createMetrics(registry: Registry, config: Config): ProxyMetrics {
  let droppedSource: (() => number) | null = null;
  let replaySource: (() => { streams: number; bytes: number }) | null = null;
  const d = defineMetrics(registry, () => droppedSource?.() ?? 0, () => replaySource?.() ?? { streams: 0, bytes: 0 });
  const bound = {
    model: new LabelBound([...config.models.map((r) => r.label ?? r.match), OTHER], SPARE_LABEL_VALUES),
    key: new LabelBound([...config.keys.map((k) => k.name), 'anonymous'], SPARE_LABEL_VALUES),
    upstream: new LabelBound(Object.keys(config.upstreams), SPARE_LABEL_VALUES),
    route: new LabelBound([], SPARE_LABEL_VALUES),
  };
  let prices = new Map(Object.entries(config.metrics.prices));
  let configDigest: string | null = null;
  const c = {
    requests: new Children((...v) => d.requests.labels(...v)),
    duration: new Children((...v) => d.duration.labels(...v)),
    ttft: new Children<HistogramChild>((m) => d.ttft.labels(m)),
    interToken: new Children<HistogramChild>((m) => d.interToken.labels(m)),
    overhead: new Children<HistogramChild>((m) => d.overhead.labels(m)),
    tokens: new Children((...v) => d.tokens.labels(...v)),
    active: new Children((m) => d.active.labels(m)),
    upstream: new Children((...v) => d.upstreamRequests.labels(...v)),
    aborts: new Children((m) => d.aborts.labels(m)),
    cost: new Children((...v) => d.cost.labels(...v)),
    rateLimited: new Children((...v) => d.rateLimited.labels(...v)),
    remaining: new Children((...v) => d.remaining.labels(...v)),
  };
  d.storeUp.set(1);
  const budgetNames = new Set(Object.keys(config.budgets));
  for (const [name, b] of Object.entries(config.budgets)) d.budgetLimit.labels(name).set(b.usd);
  for (const reason of REFUSAL_REASONS) d.refusals.labels(reason).inc(0); // known series start at 0
  for (const result of ['success', 'unchanged', 'error']) d.configReloads.labels(result).inc(0);
  for (const result of ['stored', 'refused', 'overflow']) d.resumable.labels(result).inc(0);
  for (const result of ['replayed', 'finished', 'not_found', 'lost', 'overflow', 'error']) d.resumes.labels(result).inc(0);

  const recordTokens = (r: RequestRecord, model: string, key: string): void => {
    if (r.promptTokens === null && r.completionTokens === null) return;
    const source = r.tokenSource ?? 'estimated'; // a count without a source is not the upstream's word
    const prompt = r.promptTokens ?? 0;
    const completion = r.completionTokens ?? 0;
    c.tokens.get4(model, key, 'prompt', source).inc(prompt);
    c.tokens.get4(model, key, 'completion', source).inc(completion);
    const price = prices.get(r.model) ?? prices.get(r.modelLabel);
    if (price === undefined) return;
    // Cached prompt tokens (part of the prompt) at `cachedPrompt`, as budgets price them
    // (costNano in src/limits/budget-math.ts; test/unit/metrics.test.ts).
    const cached = r.cachedTokens === undefined ? 0 : Math.min(prompt, r.cachedTokens);
    const promptCost = cached === 0 ? prompt * price.prompt : (prompt - cached) * price.prompt + cached * (price.cachedPrompt ?? price.prompt);
    c.cost.get2(model, key).inc((promptCost + completion * price.completion) / 1e6);
  };

  const recordRequest = (r: RequestRecord): void => {
    const model = bound.model.get(r.modelLabel);
    const key = bound.key.get(r.key);
    const route = bound.route.get(r.route);
    c.requests.get4(route, model, key, String(r.status)).inc();
    c.duration.get3(route, model, r.stream ? 'true' : 'false').observe(r.durationMs / 1000);
    if (r.ttftMs !== null) c.ttft.get1(model).observe(r.ttftMs / 1000);
    if (r.overheadMs !== null) c.overhead.get1(model).observe(r.overheadMs / 1000);
    const gaps = r.interToken;
    if (gaps.buckets !== null) c.interToken.get1(model).addBuckets(gaps.buckets, gaps.sumMs / 1000);
    recordTokens(r, model, key);
    if (r.endReason === 'client_aborted') c.aborts.get1(model).inc();
    for (const a of r.attempts) c.upstream.get2(bound.upstream.get(a.upstream), a.status === null ? 'error' : String(a.status)).inc();
  };

  const limiter: LimiterObserver = {
    remaining: (key, limit, n) => c.remaining.get2(bound.key.get(key), limit).set(n),
    budget: (name, spent, limit) => {
      if (!budgetNames.has(name)) return; // names come from config; anything else is not a series
      d.budgetSpent.labels(name).set(spent);
      d.budgetLimit.labels(name).set(limit);
    },
    storeFailure: () => {
      d.storeErrors.inc();
      d.storeUp.set(0);
    },
    storeRecovered: () => d.storeUp.set(1),
  };

  return {
    recordRequest,
    streamOpened: (modelLabel) => c.active.get1(bound.model.get(modelLabel)).inc(),
    streamClosed: (modelLabel) => c.active.get1(bound.model.get(modelLabel)).dec(),
    rateLimited: (key, limit) => c.rateLimited.get2(bound.key.get(key), RATE_LIMIT_KINDS.has(limit) ? limit : OTHER).inc(),
    limiterObserver: () => limiter,
    setUpstreamUp: (upstream, up) => d.upstreamUp.labels(bound.upstream.get(upstream)).set(up ? 1 : 0),
    refused: (reason) => d.refusals.labels(REFUSAL_REASONS.includes(reason) ? reason : OTHER).inc(),
    reconfigure: (next) => {
      bound.model.know(next.models.map((r) => r.label ?? r.match));
      bound.key.know(next.keys.map((k) => k.name));
      bound.upstream.know(Object.keys(next.upstreams));
      prices = new Map(Object.entries(next.metrics.prices));
      for (const [name, b] of Object.entries(next.budgets)) {
        budgetNames.add(name);
        d.budgetLimit.labels(name).set(b.usd);
      }
    },
    configReloaded: (result) => d.configReloads.labels(result).inc(),
    configLoaded: (digest) => {
      if (configDigest !== null && configDigest !== digest) d.configInfo.remove(configDigest);
      configDigest = digest;
      d.configInfo.labels(digest).set(1);
    },
    authFailed: () => d.authFailures.inc(),
    eventsDroppedFrom: (source) => {
      droppedSource = source;
    },
    resumable: (result) => d.resumable.labels(result).inc(),
    streamRead: (result) => d.resumes.labels(result).inc(),
    replayStatsFrom: (source) => {
      replaySource = source;
    },
  };
}

/**
 * Feed `m` from the lifecycle bus, inline (metrics are cheap; queued subscribers are for slow
 * consumers). Returns a function that unsubscribes everything.
 */
export function attachMetrics(bus: EventBus, m: ProxyMetrics): () => void {
  const offs = [
    bus.on('request.end', (r) => m.recordRequest(r)),
    bus.on('stream.open', (e) => m.streamOpened(e.modelLabel)),
    bus.on('stream.close', (e) => m.streamClosed(e.modelLabel)),
    bus.on('request.rate_limited', (e) => m.rateLimited(e.key, e.limit)),
  ];
  m.eventsDroppedFrom(() => bus.dropped);
  return () => {
    for (const off of offs) off();
    m.eventsDroppedFrom(null);
  };
}

const NOOP_LIMITER: LimiterObserver = Object.freeze({ remaining: () => {}, budget: () => {}, storeFailure: () => {}, storeRecovered: () => {} });

/** Metrics that record nothing: for `metrics.enabled: false`, benchmarks, and other modules' tests. */
export const noopMetrics: ProxyMetrics = Object.freeze({
  recordRequest: () => {},
  streamOpened: () => {},
  streamClosed: () => {},
  rateLimited: () => {},
  limiterObserver: () => NOOP_LIMITER,
  setUpstreamUp: () => {},
  refused: () => {},
  authFailed: () => {},
  reconfigure: () => {},
  configReloaded: () => {},
  configLoaded: () => {},
  eventsDroppedFrom: () => {},
  resumable: () => {},
  streamRead: () => {},
  replayStatsFrom: () => {},
});
