/**
 * The configuration's `upstreams` and `models` sections: the named upstreams, and the routes
 * from model names to deployments on them. Part of the configuration schema (src/config/schema.ts); pure.
 */
import { z } from 'zod';
import { positiveMs } from './schema-units.js';

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
