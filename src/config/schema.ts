/**
 * The configuration schema (README "Configuration"), validated once at start-up with zod.
 * Durations carry their unit in the name (`…Ms`), sizes in bytes.
 */
import { z } from 'zod';
import { passthroughSchema } from './passthrough.js';

const positiveMs = z.number().int().nonnegative();

/** Server and relay tunables (README "Configuration"). */
export const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Largest request body accepted; larger → 413. */
    maxBodyBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Silence before the first event after which 200 is committed and `: keep-alive` comments start. */
    keepAliveMs: positiveMs.default(10_000),
    /** Silence after the stream started after which it is ended with an error frame. */
    idleTimeoutMs: positiveMs.default(120_000),
    /** Upstream TCP/TLS connect timeout → 504. */
    connectTimeoutMs: positiveMs.default(10_000),
    /**
     * The HTTP client for network upstreams (docs/ARCHITECTURE.md "Performance rules"): `h1`, the
     * proxy's own HTTP/1.1 client (src/upstream/h1/), or `node`, Node's `node:http` agent, which
     * tools that instrument `node:http` (APM agents, nock) can see.
     */
    upstreamClient: z.enum(['h1', 'node']).default('h1'),
    /** Upstream time to response headers → 504. */
    firstByteTimeoutMs: positiveMs.default(60_000),
    /** On SIGTERM, how long open streams may finish before they are ended with an error frame. */
    shutdownGraceMs: positiveMs.default(10_000),
    /** Longest a single stream may last (an abuse limit, src/http/abuse-limits.ts); 0 = unbounded. */
    maxStreamDurationMs: positiveMs.default(0),
    /** Largest single upstream SSE event accepted (test/integration/faults.test.ts sends 1 MiB ones). */
    maxEventBytes: z.number().int().positive().default(8 * 1024 * 1024),
    /** Kernel accept queue (listen backlog): a burst of new connections waits here instead of being reset (thousands of streams opened within 1 s, bench/README.md "3. Many slow streams"). */
    listenBacklog: z.number().int().positive().default(4096),
    /**
     * Most open client connections; 0 = unbounded. 10,000 holds the bench's 5,000 slow streams
     * (bench/README.md) twice over on a 2-core box at ~20 KB each, and keeps file descriptors
     * bounded (Node drops connections outright past twice this, src/http/abuse-limits.ts).
     */
    maxConnections: z.number().int().nonnegative().default(10_000),
    /**
     * Largest non-streaming upstream answer the proxy reads (chat completions answered as JSON);
     * larger → 502 `upstream_response_too_large`. Bounds what an upstream can make the proxy hold.
     */
    maxUpstreamBodyBytes: z.number().int().positive().default(32 * 1024 * 1024),
    /**
     * Behind a TLS terminator or load balancer that sets `X-Forwarded-Proto` / `X-Forwarded-For`:
     * believe them (the admin cookie gets `Secure`, failed sign-ins are counted per forwarded
     * address). Off by default: a client could otherwise claim any address.
     */
    trustProxy: z.boolean().default(false),
    /** `/readyz` body details (checks, upstream names): `admin` = only with an admin key; `public` = anyone. */
    readyzDetails: z.enum(['admin', 'public']).default('admin'),
    /** Failed authentications (401s, admin sign-in) allowed per client address per window, then 429. */
    authFailures: z
      .object({
        max: z.number().int().positive().default(20),
        windowMs: z.number().int().positive().default(60_000),
      })
      .strict()
      .prefault({}),
    /** Time allowed for a client to send its request headers (slowloris, test/integration/abuse.test.ts). */
    headersTimeoutMs: positiveMs.default(10_000),
    /** Time allowed for a client to send a whole request (test/integration/abuse.test.ts). */
    requestTimeoutMs: positiveMs.default(30_000),
    /** Largest request head (request line and headers) accepted; larger → 431 (test/integration/abuse.test.ts). */
    maxHeaderBytes: z.number().int().min(1024).default(16 * 1024),
    /** How often the header and request timeouts above are checked (Node's default is 30 s). */
    timeoutCheckIntervalMs: z.number().int().positive().default(1_000),
  })
  .strict()
  .prefault({});

/** A named upstream: an OpenAI-compatible base URL, or the built-in simulator. */
export const upstreamSchema = z
  .object({
    /** `openai` = any OpenAI-compatible HTTP API; `sim` = the in-process simulator (src/sim). */
    type: z.enum(['openai', 'sim']).default('openai'),
    baseUrl: z.string().default(''),
    apiKey: z.string().default(''),
    /**
     * The upstream is enabled only when at least one of these env vars is non-empty (the default
     * config's `default` upstream needs UPSTREAM_BASE_URL or UPSTREAM_API_KEY). Routes to a
     * disabled upstream are dropped at start-up, with a log line saying why.
     */
    enabledIfEnv: z.array(z.string()).optional(),
    /** Extra headers sent to this upstream (e.g. `OpenAI-Organization`). */
    headers: z.record(z.string(), z.string()).default({}),
    /**
     * Caller request headers forwarded to this upstream beyond the built-in allowlist
     * (src/upstream/request-headers.ts), by lower-case name. Account-selecting headers
     * (`openai-organization`, `openai-project`) cannot be added: they come from `headers` only.
     */
    forwardHeaders: z.array(z.string().regex(/^[a-z0-9-]+$/, 'a lower-case header name')).default([]),
    /** Simulator timing (type `sim` only). */
    sim: z
      .object({
        ttftMs: positiveMs.default(150),
        tokenDelayMs: positiveMs.default(20),
        defaultMaxTokens: z.number().int().positive().default(32),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((u, ctx) => {
    if (u.type === 'openai' && u.baseUrl !== '' && !/^https?:\/\//.test(u.baseUrl)) {
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: `must be an http(s) URL, got "${u.baseUrl}"` });
    }
  });

/** One deployment of a model: which upstream, with what weight / priority (test/integration/failover.test.ts). */
export const deploymentSchema = z
  .object({
    upstream: z.string().min(1),
    /** Model name sent to this upstream, when it differs from the caller's. */
    model: z.string().optional(),
    weight: z.number().positive().default(1),
    /** Lower is tried first; equal priorities share traffic by weight. */
    priority: z.number().int().default(0),
  })
  .strict();

/** A route: a model name or glob (`sim-*`, `*`) → one or more deployments. */
export const routeSchema = z
  .object({
    match: z.string().min(1),
    upstream: z.string().min(1).optional(),
    deployments: z.array(deploymentSchema).min(1).optional(),
    /** Metric label for this route's models; defaults to the model name for exact matches, `match` for globs. */
    label: z.string().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.upstream === undefined) === (r.deployments === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of "upstream" or "deployments"' });
    }
  });

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
