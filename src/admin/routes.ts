/**
 * The admin HTTP routes (issue 5): `GET /admin/events` (the live feed) and `/admin/session`
 * (sign-in for browsers, see ./auth.ts). Errors before the stream starts are thrown and rendered
 * by the request context in OpenAI's shape, like every other error.
 */
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../errors.js';
import type { ProxyState } from '../http/request-context.js';
import type { AdminAccess } from './auth.js';
import type { AdminFeed } from './feed.js';

/** Register the admin routes on `router`. */
export function registerAdminRoutes(router: Router<ProxyState>, feed: AdminFeed, access: AdminAccess, logger: Logger): void {
  router.get('/admin/events', (ctx) => {
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
  });

  router.get('/admin/session', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = access.status(ctx);
  });

  router.post('/admin/session', (ctx) => {
    const session = access.signIn(ctx);
    if (session.expiresAt !== null) logger.info({ admin: session.name }, 'admin session opened');
    ctx.set('cache-control', 'no-store');
    ctx.body = { authRequired: access.required, authenticated: true, ...session };
  });

  router.delete('/admin/session', (ctx) => {
    access.signOut(ctx);
    ctx.status = 204;
  });
}
