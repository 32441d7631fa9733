/**
 * Access control assembled for the app: the API key check (401 before any body is read), the
 * model permission (403, before routing), and the admission step (rate limits and budgets), over
 * the memory store or Redis when `REDIS_URL` is set.
 *
 * The stores live as long as the process; what a configuration decides (which keys exist, their
 * models, limits and budgets) is a {@link AccessView} built per configuration, so a reload swaps
 * the view while every key keeps what it has used (test/integration/config-reload.test.ts).
 */
import type { Config } from './config/schema.js';
import type { AppDeps, Admission, AdmissionInput } from './deps.js';
import { createKeyStore, type ClientKey, type KeyStore } from './auth/keys.js';
import { createRateLimiter, createRedisClient, redisReady, type AdmissionRequest, type RateLimiter } from './limits/index.js';
import type { Authenticate } from './http/request-context.js';
import { withBudgetEvents } from './events/bus.js';
import type { ReadinessCheck } from './util/readiness.js';

/** What access control decides under one configuration. */
export interface AccessView {
  keys: KeyStore;
  /** The API key check for /v1 requests (401), or null when keys are off. */
  authenticate: Authenticate | null;
  admit: (input: AdmissionInput) => Promise<Admission>;
  /** The key's model allowlist (403), checked before the model is routed; null when keys are off. */
  permit: ((client: ClientKey, model: string) => void) | null;
  /** The same allowlist as a question (filtering the model list); null when keys are off. */
  allows: ((client: ClientKey, model: string) => boolean) | null;
}

/** What access control adds to the app. */
export interface Access {
  /** The view for the configuration access was created with. */
  view: AccessView;
  /** A view for another configuration, over the same stores. Throws on keys that cannot be used. */
  forConfig(config: Config): Promise<AccessView>;
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

/** The request's completion budget, by endpoint (chat, responses, legacy completions). */
function maxTokensOf(body: Record<string, unknown>, route: string): number | null {
  if (route.endsWith('/embeddings')) return 0;
  for (const field of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const v = body[field];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return null;
}

/** Does any token limit or budget apply at all? Skips prompt tokenisation when none does. */
/**
 * Whether this configuration will need token estimates soon, so the tokenizer tables are worth
 * loading before requests arrive (src/main.ts at start, src/reload.ts after a reload): a network
 * upstream may omit usage or be cut, and token limits or budgets estimate every prompt at
 * admission. A sim-only proxy without them loads the tables on its first estimate, if ever
 * (test/integration/idle-memory.test.ts).
 */
export function estimatesExpected(config: Config): boolean {
  return Object.values(config.upstreams).some((u) => u.type !== 'sim') || tokenLimitsConfigured(config);
}

function tokenLimitsConfigured(config: Config): boolean {
  const rl = config.rateLimit;
  return (
    config.keys.some((k) => k.limits.tpm !== undefined || k.budget !== undefined) ||
    Object.values(rl.models).some((l) => l.tpm !== undefined) ||
    Object.values(rl.upstreams).some((l) => l.tpm !== undefined)
  );
}

/** Does any limit or budget apply at all? Without one there is no limiter on the request path. */
function anyLimits(config: Config): boolean {
  const rl = config.rateLimit;
  return (
    config.keys.some((k) => Object.keys(k.limits).length > 0 || k.budget !== undefined) ||
    Object.keys(rl.models).length > 0 ||
    Object.keys(rl.upstreams).length > 0
  );
}

const NO_ADMISSION: Admission = { headers: {}, settle: () => undefined };

/** Build access control from config; connects to Redis when `redisUrl` is set and limits apply. */
export async function createAccess(deps: AppDeps): Promise<Access> {
  const rl = deps.config.rateLimit;
  let redis: ReturnType<typeof createRedisClient> | undefined;
  let limiter: RateLimiter | null = null;

  /** The limiter, made the first time a configuration has limits (at start or at a reload). */
  const limiterFor = async (config: Config): Promise<RateLimiter | null> => {
    if (limiter || !anyLimits(config)) return limiter;
    redis = deps.config.redisUrl ? createRedisClient(deps.config.redisUrl) : undefined;
    if (redis && !(await redisReady(redis, 2000))) {
      deps.logger.warn('Redis is not answering at start-up: limits are per instance until it does');
    }
    limiter = createRateLimiter({ config, clock: deps.clock, redis, observer: withBudgetEvents(deps.metrics.limiterObserver(), deps.bus, () => deps.clock.now()), log: deps.logger });
    return limiter;
  };

  const forConfig = async (config: Config): Promise<AccessView> => {
    const keys = createKeyStore(config.keys);
    const shared = await limiterFor(config);
    const admitUnder = shared === null || !anyLimits(config) ? null : shared === limiter && config === deps.config ? (req: AdmissionRequest) => shared.admit(req) : shared.forConfig(config);
    const countTokens = tokenLimitsConfigured(config);
    return {
      keys,
      // The OpenAI API surface needs a key; ops routes and the admin feed check their own.
      authenticate: keys.enabled ? (authorization) => keys.requireApiKey(authorization || undefined) : null,
      permit: keys.enabled ? (client, model) => keys.requireModel(client, model) : null,
      allows: keys.enabled ? (client, model) => keys.isModelAllowed(client, model) : null,
      admit: async (input) => {
        if (!admitUnder) return NO_ADMISSION;
        const client: { name: string; limits: ClientKey['limits']; budget?: string | undefined } = input.client ?? { name: 'anonymous', limits: {} };
        return admitUnder({
          key: { name: client.name, limits: client.limits, budget: client.budget },
          model: input.model,
          label: input.label ?? input.model,
          upstream: input.upstream,
          estimatedTokens: countTokens ? deps.estimator.countPrompt(input.body, input.model) : 0,
          maxTokens: maxTokensOf(input.body, input.route),
        });
      },
    };
  };

  const view = await forConfig(deps.config);
  return {
    view,
    forConfig,
    // Checked at each /readyz, so a limiter made by a reload is seen too.
    readiness: [
      () => {
        if (!limiter || !redis) return { name: 'redis', ok: true, detail: { configured: false } };
        const healthy = limiter.storeHealthy();
        return { name: 'redis', ok: healthy || rl.redisFailure === 'local', detail: { healthy, mode: rl.redisFailure } };
      },
    ],
    async close() {
      await limiter?.close();
      redis?.disconnect();
    },
  };
}
