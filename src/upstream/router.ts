/**
 * Model routing (issue 2, issue 7): a requested model name → its route and deployments, and the
 * bounded metric label for it (issue 3: `model` only takes configured names, else `other`).
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

/** Routes models in config order; the first match wins. */
export class Router {
  private readonly routes: Array<{ match: string; re: RegExp; label?: string; deployments: Deployment[] }>;
  private readonly exact = new Map<string, Route>();
  /** Label cache for glob matches: bounded by the number of routes, so safe to memoise per name. */
  private readonly cache = new Map<string, Route | null>();
  private static readonly CACHE_MAX = 10_000;
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
    // when a glob routes them (issue 3: `model` takes configured names only).
    this.named = new Set(Object.keys(config.metrics.prices));
  }

  /** The route for `model`, or null when none matches (→ 404 model_not_found). */
  resolve(model: string): Route | null {
    const hit = this.cache.get(model);
    if (hit !== undefined) return hit;
    let found: Route | null = null;
    for (const r of this.routes) {
      if (r.re.test(model)) {
        found =
          this.exact.get(r.match) ??
          { match: r.match, label: this.named.has(model) ? model : (r.label ?? r.match), deployments: r.deployments };
        break;
      }
    }
    // Callers choose model names, so the cache is capped: past it, resolve without memoising.
    if (this.cache.size < Router.CACHE_MAX) this.cache.set(model, found);
    return found;
  }

  /** Bounded label for a model, `other` when it routes nowhere. */
  label(model: string): string {
    return this.resolve(model)?.label ?? 'other';
  }

  /**
   * Model ids for GET /v1/models: exact names; for a glob served by the simulator, the
   * simulator's models it matches; other globs (`*` to a provider) list nothing of their own.
   */
  listModels(simModels: readonly string[]): string[] {
    const out = new Set<string>();
    for (const r of this.routes) {
      if (!r.match.includes('*')) out.add(r.match);
      else if (r.deployments.some((d) => d.upstreamConfig.type === 'sim')) simModels.filter((m) => matchesGlob(r.match, m)).forEach((m) => out.add(m));
    }
    return [...out];
  }

  /** Every distinct upstream name in use. */
  upstreamNames(): string[] {
    return [...new Set(this.routes.flatMap((r) => r.deployments.map((d) => d.upstream)))];
  }
}
