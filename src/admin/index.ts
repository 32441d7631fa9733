/**
 * The admin feature (README "Live feed: `GET /admin/events`"): the live feed on `/admin/events`,
 * sign-in on `/admin/session`, and the `/dashboard` page that reads the feed. Assembled by
 * src/features.ts.
 */
import type { AppDeps } from '../deps.js';
import { createKeyStore } from '../auth/keys.js';
import type { RouteTable } from '../http/route-table.js';
import { registerDashboardRoutes } from '../dashboard/routes.js';
import { AdminAccess, type AdminKeyCheck } from './auth.js';
import { AdminFeed, type FeedOptions } from './feed.js';
import { registerAdminRoutes, type ConfigReload } from './routes.js';

export { AdminFeed } from './feed.js';
export { AdminAccess } from './auth.js';

/** The assembled feature. */
export interface AdminFeature {
  feed: AdminFeed;
  access: AdminAccess;
  /** Add the admin and dashboard routes (an `AppExtensions.routes` entry). */
  register(table: RouteTable): void;
  /**
   * The routes for a reloaded configuration's keys: the same feed, and the same sessions (a
   * reload signs nobody out; a session of a removed key stops working with its key).
   */
  registerFor(keys: AdminKeyCheck): (table: RouteTable) => void;
  close(): void;
}

/** Options for {@link createAdminFeature}. */
export interface AdminFeatureOptions {
  /** The key check; default `createKeyStore(config.keys)`. Pass the app's own store to share it. */
  keys?: AdminKeyCheck;
  /** Feed tunables beyond config `admin.*` (tests). */
  feed?: Partial<FeedOptions>;
  /** `POST /admin/config/reload`: absent when the app cannot reload (no configuration source). */
  reload?: ConfigReload;
}

/** Build the feed (subscribed to the bus at once) and the routes. */
export function createAdminFeature(deps: AppDeps, opts: AdminFeatureOptions = {}): AdminFeature {
  const feed = new AdminFeed(deps.bus, deps.clock, {
    bufferSize: deps.config.admin.bufferSize,
    keepAliveMs: deps.config.admin.keepAliveMs,
    ...opts.feed,
  });
  feed.start();
  const access = new AdminAccess(opts.keys ?? createKeyStore(deps.config.keys), deps.clock);
  const routesWith = (a: AdminAccess) => (table: RouteTable): void => {
    registerAdminRoutes(table, { feed, access: a, logger: deps.logger, reload: opts.reload });
    registerDashboardRoutes(table);
  };
  return {
    feed,
    access,
    register: routesWith(access),
    registerFor: (keys) => routesWith(new AdminAccess(keys, deps.clock, { sessions: access.sessions })),
    close: () => feed.close(),
  };
}
