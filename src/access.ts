/**
 * Access control (issue 4) assembled for the app: the API key check (401 before any body is
 * read), and the admission step (403 for a model the key may not use, then the rate limiter),
 * over the memory store or Redis when `REDIS_URL` is set.
 */
import type { AppDeps, Admission, AdmissionInput } from './deps.js';
import { createKeyStore, type ClientKey, type KeyStore } from './auth/keys.js';
import { createRateLimiter, createRedisClient, redisReady, type RateLimiter } from './limits/index.js';
import type { Authenticate } from './http/request-context.js';
import type { ReadinessCheck } from './http/ops-routes.js';

/** What access control adds to the app. */
export interface Access {
  keys: KeyStore;
  limiter: RateLimiter | null;
  /** The API key check for /v1 requests (401), or null when keys are off. */
  authenticate: Authenticate | null;
  admit: (input: AdmissionInput) => Promise<Admission>;
  /** The key's model allowlist (403), checked before the model is routed. */
  permit: (client: ClientKey, model: string) => void;
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

/** Does any token limit apply at all? Skips prompt tokenisation when none does. */
function tokenLimitsConfigured(deps: AppDeps): boolean {
  const rl = deps.config.rateLimit;
  return (
    deps.config.keys.some((k) => k.limits.tpm !== undefined) ||
    Object.values(rl.models).some((l) => l.tpm !== undefined) ||
    Object.values(rl.upstreams).some((l) => l.tpm !== undefined)
  );
}

/** Build access control from config; connects to Redis when `redisUrl` is set. */
export async function createAccess(deps: AppDeps): Promise<Access> {
  const keys = createKeyStore(deps.config.keys);
  const rl = deps.config.rateLimit;
  const anyLimits =
    deps.config.keys.some((k) => Object.keys(k.limits).length > 0) || Object.keys(rl.models).length > 0 || Object.keys(rl.upstreams).length > 0;
  const redis = anyLimits && deps.config.redisUrl ? createRedisClient(deps.config.redisUrl) : undefined;
  if (redis && !(await redisReady(redis, 2000))) {
    deps.logger.warn('Redis is not answering at start-up: limits are per instance until it does');
  }
  const limiter = anyLimits
    ? createRateLimiter({ config: deps.config, clock: deps.clock, redis, observer: deps.metrics.limiterObserver(), log: deps.logger })
    : null;
  const countTokens = tokenLimitsConfigured(deps);

  // The OpenAI API surface needs a key; ops routes and the admin feed check their own.
  const authenticate: Authenticate | null = keys.enabled ? (authorization) => keys.requireApiKey(authorization || undefined) : null;

  const admit = async (input: AdmissionInput): Promise<Admission> => {
    if (!limiter) return { headers: {}, settle: () => undefined };
    const client = input.client ?? { name: 'anonymous', limits: {} };
    return limiter.admit({
      key: { name: client.name, limits: client.limits },
      model: input.model,
      upstream: input.upstream,
      estimatedTokens: countTokens ? deps.estimator.countPrompt(input.body, input.model) : 0,
      maxTokens: maxTokensOf(input.body, input.route),
    });
  };

  return {
    keys,
    limiter,
    authenticate,
    admit,
    permit: (client, model) => keys.requireModel(client, model),
    readiness: limiter && redis ? [() => ({ name: 'redis', ok: limiter.storeHealthy() || rl.redisFailure === 'local', detail: { healthy: limiter.storeHealthy(), mode: rl.redisFailure } })] : [],
    async close() {
      await limiter?.close();
      redis?.disconnect();
    },
  };
}
