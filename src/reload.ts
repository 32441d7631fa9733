/**
 * Live configuration: load the file again, validate all of it, and swap what new requests run on
 * — or change nothing and say every problem (README "Change the configuration live").
 *
 * The swap is atomic per request: a new app is built for the new configuration and the server
 * hands each new request to the newest app (src/server.ts `swap`), while requests already running
 * keep the deps they started with. What outlives configurations is kept and told the news: the
 * limiter's stores (nothing a key has used resets), the circuit breaker (state kept per
 * upstream), metrics (label bounds, prices, budgets), the failed-auth throttle, the logger's
 * level, admin sessions and the live feed. Restart-only settings keep their running values and
 * are named in the outcome (src/config/diff.ts).
 */
import { ConfigError, deepFreeze, type LoadedConfig } from './config/load.js';
import { configDigest, diffConfig, keepRestartOnly, type ReloadOutcome, type ReloadTrigger } from './config/diff.js';
import type { AppDeps } from './deps.js';
import type { Features } from './features.js';
import { breakerShape, type RunningProxy } from './server.js';
import { ModelRouter } from './upstream/router.js';
import { ModelCatalog } from './upstream/model-catalog.js';
import { estimatesExpected } from './access.js';

/** What the reloader works on. */
export interface ReloaderOptions {
  running: RunningProxy;
  features: Features;
  /** Read and validate the configuration again; throws {@link ConfigError} listing every problem. */
  load: () => LoadedConfig;
}

/** Reloads, one at a time. */
export interface Reloader {
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome>;
}

/** Build the reloader; reports the running configuration's digest at once. */
export function createReloader({ running, features, load }: ReloaderOptions): Reloader {
  running.deps.metrics.configLoaded(configDigest(running.deps.config));
  let queue: Promise<unknown> = Promise.resolve();

  const refuse = (deps: AppDeps, trigger: ReloadTrigger, problems: string[]): ReloadOutcome => {
    deps.metrics.configReloaded('error');
    deps.logger.error({ trigger, problems }, `configuration reload refused, still serving the running configuration: ${problems.join('; ')}`);
    return { ok: false, problems };
  };

  const once = async (trigger: ReloadTrigger): Promise<ReloadOutcome> => {
    const current = running.deps;
    let loaded: LoadedConfig;
    try {
      loaded = load();
    } catch (err) {
      if (err instanceof ConfigError) return refuse(current, trigger, err.problems);
      return refuse(current, trigger, [(err as Error).message]);
    }
    const diff = diffConfig(current.config, loaded.config);
    if (diff.changed.length === 0) {
      const digest = configDigest(current.config);
      current.metrics.configReloaded('unchanged');
      current.logger.info({ trigger, digest, restartRequired: diff.restartRequired }, 'configuration reload: nothing to change');
      return { ok: true, digest, changed: [], restartRequired: diff.restartRequired };
    }
    const config = deepFreeze(keepRestartOnly(current.config, loaded.config));
    const next: AppDeps = { ...current, config, router: new ModelRouter(config), models: new ModelCatalog(config, current.upstream, current.clock, current.logger), admit: null, permit: null, allows: null };
    let ext;
    try {
      // Everything that can fail is built before anything shared changes.
      ext = await features.reconfigure(next);
    } catch (err) {
      return refuse(current, trigger, [(err as Error).message]);
    }
    current.logger.level = config.logging.level;
    current.health.reconfigure(breakerShape(config));
    current.metrics.reconfigure(config);
    current.authThrottle.configure(config.server.authFailures);
    running.swap(next, ext);
    // A reload that adds a network upstream or token limits loads the tables now, not in a request.
    if (estimatesExpected(config)) current.estimator.preload();
    const digest = configDigest(config);
    current.metrics.configReloaded('success');
    current.metrics.configLoaded(digest);
    current.logger.info({ trigger, digest, changed: diff.changed, restartRequired: diff.restartRequired }, `configuration reloaded (${diff.changed.length} change${diff.changed.length === 1 ? '' : 's'})${diff.restartRequired.length ? `; needs a restart to apply: ${diff.restartRequired.join(', ')}` : ''}`);
    for (const note of loaded.notes) current.logger.info(note);
    return { ok: true, digest, ...diff };
  };

  return {
    reload(trigger) {
      const out = queue.then(() => once(trigger));
      queue = out.catch(() => undefined);
      return out;
    },
  };
}
