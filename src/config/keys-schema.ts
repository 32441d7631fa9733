/**
 * The configuration's `keys` and `rateLimit` sections: client keys and the limits on keys,
 * models and upstreams. Part of the configuration schema (src/config/schema.ts); pure.
 */
import { z } from 'zod';

/** Limits on one key, model or upstream (README "How limits count"). */
export const limitsSchema = z
  .object({
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().optional(),
  })
  .strict();

/** A client key (README "Keys"). Exactly one of `key` (plain, usually `${ENV}`) or `sha256`. */
export const clientKeySchema = z
  .object({
    name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
    key: z.string().optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, 'must be 64 hex characters')
      .optional(),
    /** Model globs this key may use; absent = all. */
    models: z.array(z.string().min(1)).optional(),
    limits: limitsSchema.default({}),
    /** The spend budget (a name in top-level `budgets`) this key draws on; keys may share one. */
    budget: z.string().min(1).optional(),
    /** May read /admin/events and /dashboard data. */
    admin: z.boolean().default(false),
    /**
     * May call the API (/v1). Default: true for ordinary keys, false for `admin` keys, so that an
     * admin key (kept by operators, typed into the dashboard) cannot spend the provider account
     * unless the config says so.
     */
    api: z.boolean().optional(),
    /** Every stream of this key is resumable unless it says `x-stream-resume: false` (README "Resumable streams"). */
    resumable: z.boolean().default(false),
  })
  .strict()
  .superRefine((k, ctx) => {
    const n = (k.key !== undefined && k.key !== '' ? 1 : 0) + (k.sha256 !== undefined ? 1 : 0);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: `key "${k.name}": give exactly one of "key" or "sha256" (is its env var set?)` });
  });

/** Rate limiting options (README "Keys and rate limits"). */
export const rateLimitSchema = z
  .object({
    /** Tokens reserved for the completion when the request gives no max_tokens. */
    defaultCompletionReservation: z.number().int().nonnegative().default(1024),
    /** What to do when Redis is unreachable: keep serving with per-instance limits, or 503. */
    redisFailure: z.enum(['local', 'closed']).default('local'),
    redisKeyPrefix: z.string().default('llmproxy'),
    /**
     * A concurrency slot in Redis is a lease its instance renews every third of this; if the
     * instance dies, its slots come back after at most this long (src/limits/redis-store.ts).
     */
    concurrencyLeaseMs: z.number().int().min(100).default(30_000),
    /** Global limits per upstream name and per model name. */
    upstreams: z.record(z.string(), limitsSchema).default({}),
    models: z.record(z.string(), limitsSchema).default({}),
  })
  .strict()
  .prefault({});
