/**
 * The optional features (auth, limits and budgets, admin feed and dashboard), assembled from
 * config into the app's extension points. Kept apart from app.ts so the core has no knowledge of
 * them. What they keep (stores, the feed, admin sessions) lives as long as the process; what a
 * configuration decides is rebuilt by {@link Features.reconfigure} for a reload.
 */
import type { AppDeps } from './deps.js';
import type { AppExtensions } from './app.js';
import { createAccess, type AccessView } from './access.js';
import { createAdminFeature } from './admin/index.js';
import type { ConfigReload } from './admin/routes.js';
import type { RouteTable } from './http/route-table.js';
import { breakerReadiness } from './upstream/breaker.js';

/** The assembled features. */
export interface Features {
  /** Extensions for the configuration the features were built with. */
  ext: AppExtensions;
  /**
   * Extensions for a reloaded configuration: `next` is that configuration's deps, whose `admit`
   * and `permit` this sets. Throws when the configuration's keys cannot be used.
   */
  reconfigure(next: AppDeps): Promise<AppExtensions>;
  close(): Promise<void>;
}

/** Options for {@link extensionsFor}. */
export interface FeatureOptions {
  /** Serves `POST /admin/config/reload` when given. */
  reload?: ConfigReload;
}

/** Build the extensions for `deps`, and a close() for what they opened (Redis, timers). */
export async function extensionsFor(deps: AppDeps, opts: FeatureOptions = {}): Promise<Features> {
  // Keys (401/403), rate limits and budgets; admission runs inside the routes once the model is known.
  const access = await createAccess(deps);
  // The live feed (/admin/events, admin keys of the same store), sign-in on /admin/session, the
  // /dashboard page, and the reload endpoint.
  const admin = createAdminFeature(deps, { keys: access.view.keys, reload: opts.reload });

  const extFor = (d: AppDeps, view: AccessView, register: (table: RouteTable) => void): AppExtensions => {
    d.admit = view.admit;
    d.permit = view.permit;
    d.allows = view.allows;
    return {
      authenticate: view.authenticate,
      routes: [register],
      readiness: [...access.readiness, ...breakerReadiness(d.health)],
      isAdmin: (authorization) => view.keys.authenticate(authorization)?.admin === true,
    };
  };

  return {
    ext: extFor(deps, access.view, (table) => admin.register(table)),
    async reconfigure(next) {
      const view = await access.forConfig(next.config);
      return extFor(next, view, admin.registerFor(view.keys));
    },
    close: async () => {
      admin.close();
      await access.close();
    },
  };
}
