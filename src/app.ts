/**
 * createApp(deps): the Koa application — middleware order and routes. Nothing here runs on
 * import; main.ts (or a test) builds the dependencies and listens.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import type { AppDeps } from './deps.js';
import { clientAddress, gateApi, requestContext, type Authenticate, type ProxyState } from './http/request-context.js';
import { registerProxyRoutes } from './http/proxy-routes.js';
import { registerOpsRoutes, type AdminCheck } from './http/ops-routes.js';
import type { ReadinessCheck } from './util/readiness.js';
import { RouteTable } from './http/route-table.js';
import { Inflight } from './shutdown.js';
import { chatLane } from './http/chat-lane.js';

/** Extension points for middleware and routes contributed by the feature modules. */
export interface AppExtensions {
  /** The API key check for API routes: throws 401/403, returns the caller's key. */
  authenticate?: Authenticate | null;
  /**
   * Runs after the request context, before the routes (and their access checks). With any, chat
   * completions go through Koa too (the lane cannot run Koa middleware).
   */
  middleware?: Koa.Middleware<ProxyState>[];
  /** Extra routes (admin feed and dashboard), each declared with its access. */
  routes?: Array<(table: RouteTable) => void>;
  readiness?: ReadinessCheck[];
  /** Does an `Authorization` value carry an admin key (readiness details)? Absent: keys are off. */
  isAdmin?: AdminCheck | null;
}

/** The built app plus what main.ts needs for shutdown. */
export interface ProxyApp {
  koa: Koa<ProxyState>;
  inflight: Inflight;
  /** Every route and its access (test/security/routes.test.ts walks it). */
  routes: RouteTable;
  /** Node request listener, for http.createServer. */
  callback: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Build the app from its dependencies. */
export function createApp(deps: AppDeps, ext: AppExtensions = {}, inflight = new Inflight()): ProxyApp {
  const trustProxy = deps.config.server.trustProxy;
  const koa = new Koa<ProxyState>({ proxy: trustProxy });
  // Errors are rendered by requestContext; Koa's default handler would log them again.
  koa.silent = true;
  const authenticate = ext.authenticate ?? null;
  // Deny by default: each route says who may call it (src/http/route-table.ts).
  const routes = new RouteTable((ctx, access) => {
    if (access === 'public') return;
    if (access === 'api') return gateApi(deps, authenticate, ctx.state, ctx.req);
    deps.authThrottle.check(clientAddress(ctx.req, trustProxy));
    access.guard(ctx);
  });

  koa.use(requestContext(deps));
  for (const mw of ext.middleware ?? []) koa.use(mw);

  registerOpsRoutes(routes, deps, ext.readiness ?? [], ext.isAdmin ?? null);
  for (const add of ext.routes ?? []) add(routes);
  registerProxyRoutes(routes, deps, inflight);
  koa.use(routes.router.routes());
  // A known path with another method: 405 with `Allow`, rendered by requestContext.
  koa.use(routes.router.allowedMethods());

  const viaKoa = koa.callback();
  // Chat completions skip Koa unless extra middleware must see them (src/http/chat-lane.ts).
  const lane = (ext.middleware ?? []).length === 0 ? chatLane(deps, inflight, authenticate) : null;
  const callback: ProxyApp['callback'] = lane
    ? (req, res) => {
        if (!lane(req, res)) void viaKoa(req, res);
      }
    : viaKoa;
  return { koa, inflight, routes, callback };
}
