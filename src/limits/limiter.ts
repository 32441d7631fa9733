/**
 * The rate limiter the app codes against (README "How limits count"): `admit` before relaying, `settle` on every
 * ending (completion, client abort, upstream failure, timeout).
 *
 * Store choice: the memory store unless a Redis client is given. With Redis, an admission is
 * one round trip (one Lua script); if it fails, `rateLimit.redisFailure` decides: `local` serves
 * the admission from the in-memory store (per-instance limits), `closed` throws a 503. The
 * outage is logged and reported to the observer once when it starts, and once when Redis answers
 * again (a script succeeds, or the client reconnects). While Redis is marked down, admissions do
 * not wait for it: when the client is disconnected they go straight to the fallback, and when
 * it is connected but failing (hanging, script errors) one admission at a time probes it while
 * the others fall back. A client from `createRedisClient` never queues or retries a command.
 * An admission is settled in the store that admitted it.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Config, LimitsConfig } from '../config/schema.js';
import { ServiceUnavailableError } from '../errors.js';
import { viewBucket, wholeRemaining } from './gcra.js';
import { createMemoryStore } from './memory-store.js';
import { createPlanner, rateLimitHeaders, refusalError, type Plan } from './policy.js';
import { NANO_PER_USD } from './budget-math.js';
import { budgetDelta, budgetError, budgetRefused, createBudgetPlanner, plannedBudgetHeaders, type PlannedBudget, type SpendUsage } from './budget-policy.js';
import { createRedisStore, newInstanceId } from './redis-store.js';
import type { AdmitInput, AdmitOutput, LimitStore } from './store.js';

export interface AdmissionRequest {
  /** `budget`: the spend budget the key draws on (budget-policy.ts), if any. */
  key: { name: string; limits: LimitsConfig; budget?: string | undefined };
  model: string;
  /** The route's metric label: where a model without a price of its own finds one (budgets). */
  label?: string;
  upstream: string;
  /** Estimated prompt (input) tokens. */
  estimatedTokens: number;
  /**
   * The request's completion budget (`max_tokens`, `max_completion_tokens`,
   * `max_output_tokens`; 0 for embeddings). Absent or null: `rateLimit.defaultCompletionReservation`.
   * The tokens reservation is estimatedTokens + this.
   */
  maxTokens?: number | null;
}

export interface Admission {
  /** OpenAI's x-ratelimit-* headers for this response (limit/remaining/reset for requests and tokens, where such limits apply) */
  headers: Record<string, string>;
  /** Tokens reserved at admission (estimated prompt + completion budget). */
  reservedTokens: number;
  /**
   * Reconcile the token reservation with the real total tokens (null = keep the reservation) and
   * the budget's reservation with the cost of `usage` (see budget-policy.ts `budgetDelta`), and
   * release the concurrency slot; idempotent (second call no-op). Fire and forget: never throws.
   */
  settle(actualTotalTokens: number | null, usage?: SpendUsage): void;
}

export type LimitName = 'requests' | 'tokens' | 'concurrency';

export interface LimiterObserver {
  /** A request of `key` (the key's name) was refused for `limit` (whatever scope refused it). */
  rateLimited?(key: string, limit: LimitName): void;
  /** What is left of `key`'s own limit after an admission or settle (may be negative: token debt). */
  remaining?(key: string, limit: LimitName, remaining: number): void;
  /** A budget's spend (reservations included) and limit in USD, after each admission and settle. */
  budget?(name: string, spentUsd: number, limitUsd: number): void;
  /** Redis became unreachable (once per outage). */
  storeFailure?(err: Error): void;
  /** Redis is answering again (once per outage). */
  storeRecovered?(): void;
}

export interface RateLimiter {
  admit(req: AdmissionRequest): Promise<Admission>;
  /**
   * Admission under another configuration's limits and budgets, over the same stores: what a
   * configuration reload uses, so every key keeps what it has used (nothing resets) while each
   * request is admitted by the configuration it started on. Redis settings stay the first ones.
   */
  forConfig(config: Config): (req: AdmissionRequest) => Promise<Admission>;
  /** for tests and /readyz: false while a given Redis is unreachable */
  storeHealthy(): boolean;
  /**
   * Stop background work (lease renewal) and stop listening to the Redis client, which the caller
   * owns and closes afterwards (closing it first would be logged as an outage).
   */
  close(): Promise<void>;
}

export interface LimiterLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RateLimiterDeps {
  config: Config;
  clock: Clock;
  redis?: Redis;
  observer?: LimiterObserver;
  log?: LimiterLog;
}

// Its `headers` are frozen too: a request adds its own to a copy (a shared object would carry one
// request's headers into every other's: test/integration/resume.test.ts).
const NOOP_ADMISSION: Admission = Object.freeze({ headers: Object.freeze({}) as Record<string, string>, reservedTokens: 0, settle: () => {} });

export function createRateLimiter(deps: RateLimiterDeps): RateLimiter {
  const { config, clock, redis, observer = {}, log } = deps;
  const rl = config.rateLimit;
  const plan = createPlanner(rl);
  const planBudget = createBudgetPlanner(config);
  type Planner = typeof plan;
  type BudgetPlanner = typeof planBudget;
  const reportBudget = (b: PlannedBudget, spent: number): void =>
    observer.budget?.(b.name, spent / NANO_PER_USD, b.charge.limit / NANO_PER_USD);
  const memory = createMemoryStore(clock);
  const instanceId = newInstanceId();
  let seq = 0;

  // ---- Redis health: transitions only, so each outage is reported once. ----
  let healthy = true;
  const markDown = (err: Error): void => {
    if (!healthy) return;
    healthy = false;
    log?.warn(
      { err: { message: err.message }, redisFailure: rl.redisFailure },
      rl.redisFailure === 'local'
        ? 'rate limit store (Redis) unreachable: using per-instance limits until it answers'
        : 'rate limit store (Redis) unreachable: refusing requests with 503 until it answers',
    );
    observer.storeFailure?.(err);
  };
  const markUp = (): void => {
    if (healthy) return;
    healthy = true;
    log?.info({}, 'rate limit store (Redis) is back: limits are shared again');
    observer.storeRecovered?.();
  };
  const onClose = (): void => markDown(new Error('Redis connection closed'));
  const onReady = (): void => markUp();
  const remote: LimitStore | undefined = redis
    ? createRedisStore(redis, {
        prefix: rl.redisKeyPrefix,
        leaseMs: rl.concurrencyLeaseMs,
        onRenewError: (err) => markDown(err),
      })
    : undefined;
  if (redis) {
    redis.on('close', onClose);
    redis.on('ready', onReady);
  }

  const reportRemaining = (keyName: string, p: Plan, tats: readonly number[], inUse: readonly number[], now: number) => {
    if (!observer.remaining) return;
    p.buckets.forEach((b, i) => {
      if (b.scope.kind === 'key') observer.remaining!(keyName, b.kind, wholeRemaining(viewBucket(tats[i]!, now, b.capacity), b.capacity));
    });
    p.slots.forEach((s, i) => {
      if (s.scope.kind === 'key') observer.remaining!(keyName, 'concurrency', s.max - inUse[i]!);
    });
  };

  /** While Redis is down, only one admission at a time tries it. */
  let probing = false;
  const fallback = async (input: AdmitInput, cause: unknown): Promise<[AdmitOutput, LimitStore]> => {
    if (rl.redisFailure === 'closed') {
      throw new ServiceUnavailableError('The rate limit store is unavailable. Please try again later.', { cause });
    }
    return [await memory.admit(input), memory];
  };

  /** Admit through Redis, or fall back per `redisFailure`. Returns the store that decided. */
  const admitInStore = async (input: AdmitInput): Promise<[AdmitOutput, LimitStore]> => {
    if (!remote || !redis) return [await memory.admit(input), memory];
    if (!healthy && (redis.status !== 'ready' || probing)) return fallback(input, new Error('Redis is down'));
    const probe = !healthy;
    if (probe) probing = true;
    try {
      const out = await remote.admit(input);
      markUp();
      return [out, remote];
    } catch (err) {
      markDown(err as Error);
      return fallback(input, err);
    } finally {
      if (probe) probing = false;
    }
  };

  const admitWith = async (plan: Planner, planBudget: BudgetPlanner, req: AdmissionRequest): Promise<Admission> => {
    const p = plan(req);
    const b = planBudget({ ...req, budget: req.key.budget, label: req.label ?? req.model }, clock.now());
    if (p.buckets.length === 0 && p.slots.length === 0 && !b) return { ...NOOP_ADMISSION, headers: {}, reservedTokens: p.reservedTokens };
    const slotId = `${instanceId}:${++seq}`;
    const [out, store] = await admitInStore({ buckets: p.buckets, slots: p.slots, slotId, ...(b ? { budgets: [b.charge] } : {}) });
    if (!out.admitted) {
      // An empty budget is told first: no wait makes the request pass before its next period.
      if (b && budgetRefused(b, out.spent[0]!)) {
        reportBudget(b, out.spent[0]!);
        throw budgetError(b, out.spent[0]!);
      }
      const { error } = refusalError(p, req.model, out);
      observer.rateLimited?.(req.key.name, error.type as LimitName);
      reportRemaining(req.key.name, p, out.tats, out.inUse, out.now);
      throw error;
    }
    reportRemaining(req.key.name, p, out.tats, out.inUse, out.now);
    if (b) reportBudget(b, out.spent[0]!);
    let settled = false;
    const headers = rateLimitHeaders(p.buckets, out.tats, out.now);
    return {
      headers: b ? { ...headers, ...plannedBudgetHeaders(b, out.spent[0]!) } : headers,
      reservedTokens: p.reservedTokens,
      settle(actualTotalTokens, usage) {
        if (settled) return;
        settled = true;
        const actual = actualTotalTokens !== null && Number.isFinite(actualTotalTokens) ? Math.max(0, Math.ceil(actualTotalTokens)) : null;
        const delta = actual === null ? 0 : actual - p.reservedTokens;
        const spendDelta = b ? budgetDelta(b, actual, usage) : 0;
        // Only token buckets are corrected, and only when the usage differs from the reservation.
        const corrected: Plan = { ...p, buckets: delta === 0 ? [] : p.buckets.filter((x) => x.kind === 'tokens') };
        if (corrected.buckets.length === 0 && corrected.slots.length === 0 && spendDelta === 0) return;
        store
          .settle({
            buckets: corrected.buckets.map((x) => ({ id: x.id, capacity: x.capacity, delta })),
            slots: p.slots.map((s) => s.id),
            slotId,
            ...(b && spendDelta !== 0 ? { budgets: [{ id: b.charge.id, delta: spendDelta, expireAt: b.charge.expireAt }] } : {}),
          })
          .then((res) => {
            if (store === remote) markUp();
            reportRemaining(req.key.name, corrected, res.tats, res.inUse, res.now);
            if (b && spendDelta !== 0) reportBudget(b, res.spent[0]!);
          })
          .catch((err: unknown) => {
            // The Redis slot's lease runs out on its own; the token correction is lost.
            markDown(err as Error);
          });
      },
    };
  };

  return {
    admit: (req) => admitWith(plan, planBudget, req),
    forConfig(next) {
      const p = createPlanner(next.rateLimit);
      const b = createBudgetPlanner(next);
      return (req) => admitWith(p, b, req);
    },
    storeHealthy() {
      return !redis || (healthy && redis.status === 'ready');
    },
    async close() {
      if (redis) {
        redis.off('close', onClose);
        redis.off('ready', onReady);
      }
      await remote?.close();
      await memory.close();
    },
  };
}
