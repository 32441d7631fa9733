/**
 * createApp(deps): the Koa application — middleware order and routes. Nothing here runs on
 * import; main.ts (or a test) builds the dependencies and listens.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { AppDeps } from './deps.js';
import { ServiceUnavailableError } from './errors.js';
import { requestContext, type ProxyState } from './http/request-context.js';
import { registerProxyRoutes } from './http/proxy-routes.js';
import { registerOpsRoutes, type ReadinessCheck } from './http/ops-routes.js';
import { Inflight } from './shutdown.js';

/** Extension points for middleware and routes contributed by the feature modules. */
export interface AppExtensions {
  /** Runs after the request context and before the routes (auth, issue 4). */
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
  callback: ReturnType<Koa['callback']>;
}

/** Build the app from its dependencies. */
export function createApp(deps: AppDeps, ext: AppExtensions = {}): ProxyApp {
  const koa = new Koa<ProxyState>({ proxy: false });
  // Errors are rendered by requestContext; Koa's default handler would log them again.
  koa.silent = true;
  const inflight = new Inflight();
  const router = new Router<ProxyState>();

  koa.use(requestContext(deps));
  koa.use(async (ctx, next) => {
    if (deps.state.draining && ctx.path.startsWith('/v1/')) throw new ServiceUnavailableError('The proxy is shutting down; retry on another instance.', { code: 'draining' });
    await next();
  });
  for (const mw of ext.middleware ?? []) koa.use(mw);

  registerOpsRoutes(router, deps, ext.readiness ?? []);
  for (const add of ext.routes ?? []) add(router);
  registerProxyRoutes(router, deps, inflight);
  koa.use(router.routes());
  koa.use(router.allowedMethods({ throw: true }));

  return { koa, inflight, callback: koa.callback() };
}
