/**
 * The configuration's `server` section (README "Configuration"): the listener, the relay's
 * time-outs and sizes, and the abuse limits. Part of the configuration schema (src/config/schema.ts); pure.
 */
import { z } from 'zod';
import { positiveMs } from './schema-units.js';

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
