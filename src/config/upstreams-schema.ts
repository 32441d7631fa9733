/**
 * The configuration's `upstreams` and `models` sections: the named upstreams, and the routes
 * from model names to deployments on them. Part of the configuration schema (src/config/schema.ts); pure.
 */
import { z } from 'zod';
import { positiveMs } from './schema-units.js';

/** The base URL of a provider when the config gives none (as the providers' own SDKs default). */
export const DEFAULT_BASE_URLS = {
  openai: '',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com/v1beta',
} as const;

/**
 * A named upstream: an HTTP API in OpenAI's, Anthropic's or Gemini's wire format
 * (src/providers/), or the built-in simulator.
 */
export const upstreamSchema = z
  .object({
    /**
     * `openai` = any OpenAI-compatible HTTP API; `anthropic` = the Messages API; `gemini` = the
     * Gemini API; `sim` = the in-process simulator (src/sim), speaking `sim.api`'s format.
     */
    type: z.enum(['openai', 'anthropic', 'gemini', 'sim']).default('openai'),
    /** Empty: the provider's own (`DEFAULT_BASE_URLS`); an `openai` upstream must name one. */
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
    /**
     * The output limit sent when the caller sets none, to a provider that requires one (Anthropic's
     * `max_tokens`); others get none, as the caller asked.
     */
    defaultMaxTokens: z.number().int().positive().default(4096),
    /** How long the model list fetched from this upstream for GET /v1/models is kept (src/upstream/model-catalog.ts). */
    modelListTtlMs: positiveMs.default(600_000),
    /** Simulator timing and wire format (type `sim` only). */
    sim: z
      .object({
        /** The wire format the simulator speaks, through the same provider adapter as a real upstream of that type. */
        api: z.enum(['openai', 'anthropic', 'gemini']).default('openai'),
        ttftMs: positiveMs.default(150),
        tokenDelayMs: positiveMs.default(20),
        defaultMaxTokens: z.number().int().positive().default(32),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((u, ctx) => {
    if (u.type !== 'sim' && u.baseUrl !== '' && !/^https?:\/\//.test(u.baseUrl)) {
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
