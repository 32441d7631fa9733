/**
 * Model routing: a requested model name → its route and deployments, and the bounded metric
 * label for it (`model` only takes configured names, else `other`).
 *
 * Callers choose model names, so what the router remembers about them is bounded: configured
 * names are resolved once at start in their own map; other names a glob route answers are kept in
 * a least-recently-used cache of {@link GLOB_CACHE_MAX} entries (test/unit/router-lru.test.ts).
 */
import type { Config, DeploymentConfig, UpstreamConfig } from '../config/schema.js';
import { compileGlob, matchesGlob } from '../glob.js';

/** A deployment with its upstream's settings resolved. */
export interface Deployment extends DeploymentConfig {
  upstreamConfig: UpstreamConfig;
}

/** What routing a model gives. */
export interface Route {
  /** The route's `match` (a name or glob). */
  match: string;
  /** Bounded label for metrics: the exact configured name, the route's `label`, or its glob. */
  label: string;
  deployments: Deployment[];
}

/** Most callers' names whose resolution is remembered. */
export const GLOB_CACHE_MAX = 1_000;
/**
 * Longer names are resolved but never remembered. It is the longest model name the API accepts
 * (MODEL_NAME_MAX in src/http/body.ts), so the cache holds at most ~0.5 MB of names even if a
 * route forgets to check them.
 */
const CACHEABLE_NAME_MAX = 256;

/**
 * Routes models in config order; the first match wins. (Named ModelRouter, not Router, so it is
 * never confused with @koa/router's Router in src/http/route-table.ts.)
 */
export class ModelRouter {
  private readonly routes: Array<{ match: string; re: RegExp; label?: string; deployments: Deployment[] }>;
  /** Each exact (non-glob) route by its name. */
  private readonly exact = new Map<string, Route>();
  /** The resolution of every configured name (exact routes, priced models): fixed, never evicted. */
  private readonly known = new Map<string, Route | null>();
  /** Resolutions of other names, least recently used evicted first. */
  private readonly cache = new Lru<string, Route | null>(GLOB_CACHE_MAX);
  private readonly named: Set<string>;

  constructor(config: Config) {
    this.routes = config.models.map((r) => ({
      match: r.match,
      re: compileGlob(r.match),
      label: r.label,
      deployments: (r.deployments ?? []).map((d) => ({ ...d, upstreamConfig: config.upstreams[d.upstream]! })),
    }));
    for (const r of this.routes) {
      if (!r.match.includes('*') && !this.exact.has(r.match)) {
        this.exact.set(r.match, { match: r.match, label: r.label ?? r.match, deployments: r.deployments });
      }
    }
    // Models named in the price table are configured names too: they get their own label even
    // when a glob routes them (the metric label `model` takes configured names only).
    this.named = new Set(Object.keys(config.metrics.prices));
    for (const name of [...this.exact.keys(), ...this.named]) this.known.set(name, this.match(name));
  }

  /** The route for `model`, or null when none matches (→ 404 model_not_found). */
  resolve(model: string): Route | null {
    const fixed = this.known.get(model);
    if (fixed !== undefined) return fixed;
    const hit = this.cache.get(model);
    if (hit !== undefined) return hit;
    const found = this.match(model);
    if (model.length <= CACHEABLE_NAME_MAX) this.cache.set(model, found);
    return found;
  }

  /** Names whose resolution the cache holds now, least recently used first (tests). */
  cachedNames(): string[] {
    return this.cache.keys();
  }

  /** The first route matching `model`, uncached. */
  private match(model: string): Route | null {
    for (const r of this.routes) {
      if (r.re.test(model)) {
        return this.exact.get(r.match) ?? { match: r.match, label: this.named.has(model) ? model : (r.label ?? r.match), deployments: r.deployments };
      }
    }
    return null;
  }

  /** Bounded label for a model, `other` when it routes nowhere. */
  label(model: string): string {
    return this.resolve(model)?.label ?? 'other';
  }

  /**
   * Model ids for GET /v1/models: exact names, and for a glob route the models its upstreams
   * report (`reported`, src/upstream/model-catalog.ts) that it matches and that no earlier route
   * takes — the names a caller can use, each routed where the list says.
   */
  listModels(reported: (upstream: string) => readonly string[]): string[] {
    const out = new Set<string>();
    for (const r of this.routes) {
      if (!r.match.includes('*')) {
        out.add(r.match);
        continue;
      }
      for (const d of r.deployments) {
        for (const m of reported(d.upstream)) if (!out.has(m) && this.firstRoute(m) === r) out.add(m);
      }
    }
    return [...out];
  }

  /** The first route whose `match` takes `model` (uncached: listing must not fill the cache). */
  private firstRoute(model: string): (typeof this.routes)[number] | undefined {
    return this.routes.find((r) => r.re.test(model));
  }

  /** The upstreams of glob routes: those whose model lists GET /v1/models asks for. */
  globUpstreams(): string[] {
    return [...new Set(this.routes.filter((r) => r.match.includes('*')).flatMap((r) => r.deployments.map((d) => d.upstream)))];
  }

  /** Every distinct upstream name in use. */
  upstreamNames(): string[] {
    return [...new Set(this.routes.flatMap((r) => r.deployments.map((d) => d.upstream)))];
  }
}

/**
 * A map of at most `max` entries that evicts the least recently used: a Map iterates in insertion
 * order, so a hit is moved to the end (delete, then set) and the first key is the oldest.
 */
class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  /** The value for `key` (now the most recently used), or undefined. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  /** Keys, least recently used first. */
  keys(): K[] {
    return [...this.map.keys()];
  }
}
