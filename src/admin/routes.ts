/**
 * The admin HTTP routes (issue 5): `GET /admin/events` (the live feed) and `/admin/session`
 * (sign-in for browsers, see ./auth.ts). Errors before the stream starts are thrown and rendered
 * by the request context in OpenAI's shape, like every other error.
 */
import type Koa from 'koa';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../errors.js';
import type { ProxyState } from '../http/request-context.js';
import type { RouteTable } from '../http/route-table.js';
import type { AdminAccess } from './auth.js';
import type { AdminFeed } from './feed.js';

/**
 * Register the admin routes. The feed needs an admin key or session; `GET /admin/session` (is
 * this browser signed in?) and `DELETE /admin/session` (forget this browser's session) are
 * public: they read or clear only the caller's own cookie.
 */
export function registerAdminRoutes(table: RouteTable, feed: AdminFeed, access: AdminAccess, logger: Logger): void {
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
}
