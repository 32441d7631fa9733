/**
 * Everything the app is built from, passed in (no module-level singletons): tests build a whole
 * app on port 0 with their own clock, registry, fetch and stores.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { Config } from './config/schema.js';
import type { EventBus } from './events/bus.js';
import type { ModelRouter } from './upstream/router.js';
import type { ModelCatalog } from './upstream/model-catalog.js';
import type { ReplayStore } from './streams/types.js';
import type { UpstreamClient } from './upstream/client.js';
import type { UpstreamHealth } from './upstream/breaker.js';
import type { TokenEstimator } from './usage/estimate.js';
import type { ClientKey } from './auth/keys.js';
import type { ProxyMetrics } from './metrics.js';
import type { AuthThrottle } from './http/auth-throttle.js';

/** Headers and settlement of a request admitted by the limiter (src/limits/limiter.ts). */
export interface Admission {
  headers: Record<string, string>;
  /**
   * Reconcile tokens (null = keep the reservation) and the budget's spend (priced from `usage`
   * when given) and free the concurrency slot; idempotent.
   */
  settle(actualTotalTokens: number | null, usage?: { promptTokens: number; completionTokens: number; cachedPromptTokens?: number }): void;
}

/** What the admission step needs to know about a request. */
export interface AdmissionInput {
  /** The authenticated caller (see src/auth/keys.ts), or null when auth is off. */
  client: ClientKey | null;
  /** The request path, e.g. `/v1/embeddings`. */
  route: string;
  model: string;
  /** The route's metric label (src/upstream/router.ts): a budget prices the model by it when the model has no price of its own. */
  label?: string;
  upstream: string;
  body: Record<string, unknown>;
}

/**
 * Counts the proxy keeps about itself, read by /readyz and metrics. (ProxyStatus, not ProxyState:
 * that name is Koa's per-request state in src/http/request-context.ts.)
 */
export interface ProxyStatus {
  draining: boolean;
  activeRequests: number;
}

/** Everything createApp needs. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  bus: EventBus;
  router: ModelRouter;
  /** What each upstream says it serves, for GET /v1/models (src/upstream/model-catalog.ts). */
  models: ModelCatalog;
  /** Replay logs of resumable streams (src/streams/): they outlive configurations. */
  streams: ReplayStore;
  upstream: UpstreamClient;
  registry: Registry;
  health: UpstreamHealth;
  state: ProxyStatus;
  /** The metrics (a no-op set when metrics are off). */
  metrics: ProxyMetrics;
  /** Token counting when the upstream gives no usage (README "What the proxy guarantees": usage, always). */
  estimator: TokenEstimator;
  /** Admission control (README "Keys and rate limits"); null = no limits. Throws a ProxyError to refuse. */
  admit: ((input: AdmissionInput) => Promise<Admission>) | null;
  /**
   * May this caller use this model? Throws the 403 to render; null when keys are off. Runs before
   * the model is routed, so nothing is cached for a name the caller may not use.
   */
  permit: ((client: ClientKey, model: string) => void) | null;
  /** The same allowlist as a question (GET /v1/models filters by it); null when keys are off. */
  allows: ((client: ClientKey, model: string) => boolean) | null;
  /** Failed authentications per client address (src/http/auth-throttle.ts). */
  authThrottle: AuthThrottle;
}
