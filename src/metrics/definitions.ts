/**
 * The metric declarations: names, help, labels, buckets (README "Metrics: Prometheus and Grafana",
 * "Keys and rate limits" → "Metrics"). Histograms are {@link FastHistogram}s (cheap observe on the
 * hot path); counters and gauges are prom-client's, used through cached children by src/metrics.ts.
 */
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';
import { INTER_TOKEN_BOUNDS_MS } from '../events/gaps.js';

/** Bucket upper bounds in seconds, on the thresholds people alert on for LLM traffic. */
export const BUCKETS = {
  /** Whole requests: embeddings in milliseconds up to long reasoning streams (≈5 min). */
  requestDuration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300],
  /** Time to first token: 50 ms (a warm small model) to 60 s (a queued reasoning model). */
  timeToFirstToken: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60],
  /**
   * Gap between content chunks: 1 ms (batched fast decoding) to 2 s (a stall). The request record
   * counts its gaps over these bounds (src/events/gaps.ts), and the histogram adds the counts.
   */
  interToken: INTER_TOKEN_BOUNDS_MS.map((ms) => ms / 1000),
  /** Time the proxy itself adds: 100 µs to 100 ms. */
  overhead: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
} as const;

export type MetricSet = ReturnType<typeof defineMetrics>;

const NO_REPLAY = (): { streams: number; bytes: number } => ({ streams: 0, bytes: 0 });

/**
 * Register every metric, and Node's default process metrics, in `registry`. Call once per
 * registry (prom-client refuses a second registration of a name). `droppedEvents` is read at
 * scrape time for `llm_proxy_events_dropped_total`, `replayStats` for the replay gauges.
 */
export function defineMetrics(registry: Registry, droppedEvents: () => number, replayStats: () => { streams: number; bytes: number } = NO_REPLAY) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const histogram = (name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) =>
    new FastHistogram({ name, help, labelNames, buckets, registers });

  return {
    // The core request metrics, queried by README "Metrics: Prometheus and Grafana" and docs/promql.md.
    requests: counter('llm_proxy_requests_total', 'Requests answered, by route, model label, key name and HTTP status.', ['route', 'model', 'key', 'status']),
    duration: histogram('llm_proxy_request_duration_seconds', 'Time from request arrival to the last byte sent.', ['route', 'model', 'stream'], BUCKETS.requestDuration),
    ttft: histogram('llm_proxy_time_to_first_token_seconds', 'Time from request arrival to the first content token sent to the caller.', ['model'], BUCKETS.timeToFirstToken),
    interToken: histogram('llm_proxy_inter_token_latency_seconds', 'Gap between successive content chunks sent to the caller.', ['model'], BUCKETS.interToken),
    tokens: counter('llm_proxy_tokens_total', 'Tokens by type (prompt, completion) and source (upstream usage, or estimated by the proxy).', ['model', 'key', 'type', 'source']),
    active: gauge('llm_proxy_active_streams', 'Streams open to callers now.', ['model']),
    upstreamRequests: counter('llm_proxy_upstream_requests_total', 'Attempts sent to upstreams, by upstream and HTTP status ("error" when no response).', ['upstream', 'status']),
    rateLimited: counter('llm_proxy_rate_limited_total', 'Requests refused by a rate limit, by key and limit (requests, tokens, concurrency).', ['key', 'limit']),
    aborts: counter('llm_proxy_client_aborts_total', 'Requests the caller abandoned before the end.', ['model']),
    cost: counter('llm_proxy_cost_usd_total', 'Estimated spend in USD from the configured price table (metrics.prices).', ['model', 'key']),
    // What the proxy itself adds.
    overhead: histogram('llm_proxy_overhead_seconds', 'Time the proxy itself added: duration minus time waiting on the upstream.', ['model'], BUCKETS.overhead),
    // The limiter.
    remaining: gauge('llm_proxy_rate_limit_remaining', 'Remaining budget of a key after its last admission, by limit.', ['key', 'limit']),
    storeErrors: counter('llm_proxy_limiter_store_errors_total', 'Limiter store operations that failed (Redis unreachable); limits fell back as configured.', []),
    // Spend budgets (README "Budgets"): label values are configured budget names only.
    budgetSpent: gauge('llm_proxy_budget_spent_usd', "A budget's spend in its current period (open requests' reservations included), as this instance last saw it.", ['budget']),
    budgetLimit: gauge('llm_proxy_budget_limit_usd', "A budget's limit per period.", ['budget']),
    // Live configuration (README "Change the configuration live").
    configReloads: counter('llm_proxy_config_reloads_total', 'Configuration reloads, by result (success, unchanged, error).', ['result']),
    configInfo: gauge('llm_proxy_config_info', 'The configuration in use, by digest (1); compare it across instances.', ['digest']),
    storeUp: gauge('llm_proxy_limiter_store_up', '1 while the limiter store answers, 0 after a failure until it recovers.', []),
    // Resilience and abuse limits.
    upstreamUp: gauge('llm_proxy_upstream_up', '1 when an upstream circuit is closed or half-open, 0 when open.', ['upstream']),
    // Resumable streams (README "Resumable streams").
    resumable: counter('llm_proxy_resumable_streams_total', 'Streams asked to be resumable, by result: stored, refused (the instance is at its bound), overflow (went over its per-stream bound while generating).', ['result']),
    resumes: counter('llm_proxy_stream_resumes_total', 'Reads of a resumable stream (GET /v1/streams/{id}), by result: replayed, finished (nothing after Last-Event-ID: 204), not_found, lost, overflow, error.', ['result']),
    replayBytes: new Gauge({
      name: 'llm_proxy_replay_bytes',
      help: 'Bytes of stream frames this instance holds for resumption (memory store) or writes to Redis for streams still generating.',
      registers,
      collect() {
        this.set(replayStats().bytes);
      },
    }),
    replayStreams: new Gauge({
      name: 'llm_proxy_replay_streams',
      help: 'Resumable streams this instance is generating now.',
      registers,
      collect() {
        this.set(replayStats().streams);
      },
    }),
    refusals: counter('llm_proxy_refused_total', 'Connections or requests refused by an abuse limit, by reason.', ['reason']),
    authFailures: counter('llm_proxy_auth_failures_total', 'Requests answered 401: a missing or wrong key, metrics token or admin session.', []),
    // The bus counts drops itself; the counter mirrors it at scrape time.
    eventsDropped: new Counter({
      name: 'llm_proxy_events_dropped_total',
      help: 'Lifecycle events dropped because a queued subscriber (log, live feed) was too slow.',
      registers,
      collect() {
        this.reset();
        this.inc(droppedEvents());
      },
    }),
  };
}
