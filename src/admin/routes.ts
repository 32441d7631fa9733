/**
 * The admin HTTP routes: `GET /admin/events` (the live feed), `/admin/session` (sign-in for
 * browsers, see ./auth.ts) and `POST /admin/config/reload`. Errors before the stream starts are
 * thrown and rendered by the request context in OpenAI's shape, like every other error.
 */
import type Koa from 'koa';
import type { Logger } from 'pino';
import { InvalidRequestError, ServiceUnavailableError } from '../errors.js';
import type { ReloadOutcome, ReloadTrigger } from '../config/diff.js';
import type { ProxyState } from '../http/request-context.js';
import type { RouteTable } from '../http/route-table.js';
import type { AdminAccess } from './auth.js';
import type { AdminFeed } from './feed.js';

/**
 * Register the admin routes. The feed needs an admin key or session; `GET /admin/session` (is
 * this browser signed in?) and `DELETE /admin/session` (forget this browser's session) are
 * public: they read or clear only the caller's own cookie.
 */
/** Reload the configuration from its source (the wiring's reloader). */
export type ConfigReload = (trigger: ReloadTrigger) => Promise<ReloadOutcome>;

/** What the admin routes work with. */
export interface AdminRouteDeps {
  feed: AdminFeed;
  access: AdminAccess;
  logger: Logger;
  reload?: ConfigReload | undefined;
}

export function registerAdminRoutes(table: RouteTable, { feed, access, logger, reload }: AdminRouteDeps): void {
  const admin = { guard: (ctx: Koa.ParameterizedContext<ProxyState>) => void access.require(ctx) };
  table.add({
    methods: ['GET'],
    path: '/admin/events',
    access: admin,
    handler: (ctx) => {
      const caller = access.require(ctx);
      if (feed.full) {
        feed.refused();
        throw new ServiceUnavailableError('Too many admin feed connections.', { code: 'too_many_connections' });
      }
      // `Last-Event-ID` from an EventSource reconnecting by itself; `lastEventId` from the
      // dashboard when it had to open a new EventSource (ids are not secrets).
      const header = ctx.get('last-event-id');
      const query = typeof ctx.query.lastEventId === 'string' ? ctx.query.lastEventId : '';
      ctx.respond = false;
      ctx.state.handled = true;
      feed.connect(ctx.res, header || query || undefined);
      logger.debug({ admin: caller.name, via: caller.via, lastEventId: header || query || null, connections: feed.connections }, 'admin feed connected');
    },
  });

  table.add({
    methods: ['GET'],
    path: '/admin/session',
    access: 'public',
    handler: (ctx) => {
      ctx.set('cache-control', 'no-store');
      ctx.body = access.status(ctx);
    },
  });

  // Sign-in takes the admin key itself (Bearer), not a session: its guard is the key check.
  table.add({
    methods: ['POST'],
    path: '/admin/session',
    access: admin,
    handler: (ctx) => {
      const session = access.signIn(ctx);
      if (session.expiresAt !== null) logger.info({ admin: session.name }, 'admin session opened');
      ctx.set('cache-control', 'no-store');
      ctx.body = { authRequired: access.required, authenticated: true, ...session };
    },
  });

  table.add({
    methods: ['DELETE'],
    path: '/admin/session',
    access: 'public',
    handler: (ctx) => {
      access.signOut(ctx);
      ctx.status = 204;
    },
  });

  if (reload) {
    // 200 with what changed (and what waits for a restart), or 400 listing every problem; the
    // running configuration is untouched then (README "Change the configuration live").
    table.add({
      methods: ['POST'],
      path: '/admin/config/reload',
      access: admin,
      handler: async (ctx) => {
        const caller = access.require(ctx);
        const out = await reload('api');
        if (!out.ok) {
          throw new InvalidRequestError(`The configuration was not reloaded (${out.problems.length} problem${out.problems.length === 1 ? '' : 's'}): ${out.problems.join('; ')}`, {
            code: 'invalid_config',
          });
        }
        logger.info({ admin: caller.name, digest: out.digest }, 'configuration reload requested');
        ctx.set('cache-control', 'no-store');
        ctx.body = { status: out.changed.length === 0 ? 'unchanged' : 'reloaded', ...out };
      },
    });
  }
}
