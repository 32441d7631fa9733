/**
 * The configuration schema (README "Configuration"), validated once at start-up with zod.
 * Durations carry their unit in the name (`…Ms`), sizes in bytes. The larger sections live in
 * their own files (server-schema.ts, upstreams-schema.ts, keys-schema.ts, passthrough.ts);
 * this file composes them into the whole file's schema.
 */
import { z } from 'zod';
import { passthroughSchema } from './passthrough.js';
import { positiveMs } from './schema-units.js';
import { serverSchema } from './server-schema.js';
import { deploymentSchema, routeSchema, upstreamSchema } from './upstreams-schema.js';
import { clientKeySchema, limitsSchema, rateLimitSchema } from './keys-schema.js';

// The sections in their own files, exported from here as before.
export { serverSchema, upstreamSchema, deploymentSchema, routeSchema, limitsSchema, clientKeySchema, rateLimitSchema };

/** Logging (README "Logs, live feed and dashboard"). */
export const loggingSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Log request messages and the reassembled answer (truncated). Off by default. */
    content: z.boolean().default(false),
    contentMaxChars: z.number().int().positive().default(2000),
    /** Extra JSON paths redacted from logged request bodies, e.g. `user`, `metadata.email`. */
    redactPaths: z.array(z.string()).default([]),
  })
  .strict()
  .prefault({});

/** Metrics (README "Metrics: Prometheus and Grafana"). */
export const metricsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
    token: z.string().optional(),
    /** USD per million tokens, by model name. */
    prices: z
      .record(
        z.string(),
        z
          .object({
            prompt: z.number().nonnegative(),
            completion: z.number().nonnegative(),
            /** Cached prompt tokens' price: accepted, not applied yet (README "Budgets": cached tokens are not tracked). */
            cachedPrompt: z.number().nonnegative().optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict()
  .prefault({});

/** Resilience: failover and circuit breaking (test/integration/failover.test.ts, test/unit/breaker.test.ts). */
export const resilienceSchema = z
  .object({
    /** Most upstream attempts per request (first try included). */
    maxAttempts: z.number().int().min(1).default(3),
    /** Total time budget for all attempts before the first byte, ms. */
    retryBudgetMs: positiveMs.default(30_000),
    /** Longest upstream Retry-After honoured before trying the next deployment, ms. */
    maxRetryAfterMs: positiveMs.default(2_000),
    breaker: z
      .object({
        failureThreshold: z.number().int().positive().default(5),
        cooldownMs: positiveMs.default(10_000),
      })
      .strict()
      .prefault({}),
    /** Pick, among equal-priority deployments, the one with fewest requests in flight. */
    leastInFlight: z.boolean().default(false),
  })
  .strict()
  .prefault({});

/** The admin feed (README "Live feed: `GET /admin/events`"). */
export const adminSchema = z
  .object({
    /** Events kept for Last-Event-ID replay. */
    bufferSize: z.number().int().positive().default(1000),
    keepAliveMs: positiveMs.default(15_000),
  })
  .strict()
  .prefault({});

/** Live reload (README "Change the configuration live"). SIGHUP and the admin endpoint always work. */
export const reloadSchema = z
  .object({
    /** Also reload when the configuration file changes on disk. */
    watch: z.boolean().default(false),
    /** Changes closer together than this are one reload (editors write a file in several steps). */
    debounceMs: positiveMs.default(250),
  })
  .strict()
  .prefault({});

/**
 * Resumable streams (README "Resumable streams"): the replay logs' bounds. The store is Redis
 * Streams when `redisUrl` is set (a stream can be read through another instance), else memory.
 */
export const resumableSchema = z
  .object({
    /** How long a finished stream stays readable. */
    retentionMs: positiveMs.default(300_000),
    /** Bytes of frames kept per stream; past it the stream stops being resumable (its caller gets it whole). */
    maxStreamBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Resumable streams generating at once on this instance; past it a stream is not resumable (a detached start answers 503). */
    maxStreams: z.number().int().positive().default(1000),
    /** Bytes of frames this instance holds (memory) or writes for live streams (Redis). */
    maxTotalBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Redis: a reader declares a generation lost this long after its instance stopped refreshing its lease. */
    leaseMs: positiveMs.default(5_000),
  })
  .strict()
  .prefault({});

/** The whole configuration file. */
export const configSchema = z
  .object({
    server: serverSchema,
    upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstreamSchema).default({}),
    models: z.array(routeSchema).default([]),
    keys: z.array(clientKeySchema).default([]),
    rateLimit: rateLimitSchema,
    redisUrl: z.string().optional(),
    logging: loggingSchema,
    metrics: metricsSchema,
    resilience: resilienceSchema,
    admin: adminSchema,
    passthrough: passthroughSchema,
    reload: reloadSchema,
    resumable: resumableSchema,
    /** Spend budgets in USD per UTC period, by name (README "Budgets"); keys name one in `budget`. */
    budgets: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
        z.object({ usd: z.number().positive(), period: z.enum(['day', 'week', 'month', 'total']) }).strict(),
      )
      .default({}),
  })
  .strict();

/** Validated configuration, as every module receives it (frozen). */
export type Config = z.infer<typeof configSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type ClientKeyConfig = z.infer<typeof clientKeySchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
export type { PassthroughEndpoint } from './passthrough.js';
