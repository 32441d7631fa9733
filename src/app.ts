/**
 * createApp(deps): the Koa application — middleware order and routes. Nothing here runs on
 * import; main.ts (or a test) builds the dependencies and listens.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import type { AppDeps } from './deps.js';
import { gateApi, requestContext, type Authenticate, type ProxyState } from './http/request-context.js';
import { registerProxyRoutes } from './http/proxy-routes.js';
import { registerOpsRoutes, type ReadinessCheck } from './http/ops-routes.js';
import { Inflight } from './shutdown.js';
import { chatLane } from './http/chat-lane.js';

/** Extension points for middleware and routes contributed by the feature modules. */
export interface AppExtensions {
  /** The API key check for /v1 requests (issue 4): throws 401, returns the caller's key. */
  authenticate?: Authenticate | null;
  /**
   * Runs after the request context and the key check, before the routes. With any, chat
   * completions go through Koa too (the lane cannot run Koa middleware).
   */
  middleware?: Koa.Middleware<ProxyState>[];
  /** Extra routes (admin feed and dashboard, issue 5). */
  routes?: Array<(router: Router<ProxyState>) => void>;
  readiness?: ReadinessCheck[];
}

/** The built app plus what main.ts needs for shutdown. */
export interface ProxyApp {
  koa: Koa<ProxyState>;
  inflight: Inflight;
  /** Node request listener, for http.createServer. */
  callback: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Build the app from its dependencies. */
export function createApp(deps: AppDeps, ext: AppExtensions = {}): ProxyApp {
  const koa = new Koa<ProxyState>({ proxy: false });
  // Errors are rendered by requestContext; Koa's default handler would log them again.
  koa.silent = true;
  const inflight = new Inflight();
  const router = new Router<ProxyState>();

  koa.use(requestContext(deps));
  const authenticate = ext.authenticate ?? null;
  koa.use(async (ctx, next) => {
    if (ctx.path.startsWith('/v1/')) gateApi(deps, authenticate, ctx.state, ctx.get('authorization') || undefined);
    await next();
  });
  for (const mw of ext.middleware ?? []) koa.use(mw);

  registerOpsRoutes(router, deps, ext.readiness ?? []);
  for (const add of ext.routes ?? []) add(router);
  registerProxyRoutes(router, deps, inflight);
  koa.use(router.routes());
  koa.use(router.allowedMethods({ throw: true }));

  const viaKoa = koa.callback();
  // Issue 6: chat completions skip Koa unless extra middleware must see them (src/http/chat-lane.ts).
  const lane = (ext.middleware ?? []).length === 0 ? chatLane(deps, inflight, authenticate) : null;
  const callback: ProxyApp['callback'] = lane
    ? (req, res) => {
        if (!lane(req, res)) void viaKoa(req, res);
      }
    : viaKoa;
  return { koa, inflight, callback };
}
