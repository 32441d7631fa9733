/**
 * createApp(deps): the Koa application — middleware order and routes. Nothing here runs on
 * import; main.ts (or a test) builds the dependencies and listens.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import type { AppDeps } from './deps.js';
import { clientAddress, requestContext, scopeOf, type Authenticate, type ProxyState } from './http/request-context.js';
import { RequestScopes } from './http/request-scope.js';
import { registerProxyRoutes } from './http/proxy-routes.js';
import { registerOpsRoutes, type AdminCheck } from './http/ops-routes.js';
import { registerExampleRoutes } from './examples/routes.js';
import type { ReadinessCheck } from './util/readiness.js';
import { RouteTable } from './http/route-table.js';
import { Inflight } from './shutdown.js';
import { chatLane } from './http/chat-lane.js';

/** Extension points for middleware and routes contributed by the feature modules. */
export interface AppExtensions {
  /** The API key check for API routes: throws 401/403, returns the caller's key. */
  authenticate?: Authenticate | null;
  /** Koa middleware run after the request scope, before the routes (and their access checks). */
  middleware?: ExtraMiddleware[];
  /** Extra routes (admin feed and dashboard), each declared with its access. */
  routes?: Array<(table: RouteTable) => void>;
  readiness?: ReadinessCheck[];
  /** Does an `Authorization` value carry an admin key (readiness details)? Absent: keys are off. */
  isAdmin?: AdminCheck | null;
}

/**
 * One extra Koa middleware, declared with whether it must see chat completions. The chat lane
 * (src/http/chat-lane.ts) cannot run Koa middleware, so `chat: true` sends every chat completion
 * of the app through Koa (slower: bench/profile.ts, bench/heap.ts), and createApp says so in one
 * info line naming the middleware; `chat: false` leaves chat completions on the lane, and the
 * middleware sees every other request. There is no default: a bare function is refused.
 */
export interface ExtraMiddleware {
  /** Named in the log line when it takes chat completions off the lane. */
  name: string;
  middleware: Koa.Middleware<ProxyState>;
  /** Must it see `POST /v1/chat/completions`? */
  chat: boolean;
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
  // Errors are rendered by the request scope; Koa's default handler would log them again.
  koa.silent = true;
  const middleware = checkedMiddleware(ext.middleware ?? []);
  const scopes = new RequestScopes(deps, ext.authenticate ?? null);
  // Deny by default: each route says who may call it (src/http/route-table.ts).
  const routes = new RouteTable((ctx, access) => {
    if (access === 'public') return;
    if (access === 'api') return scopeOf(ctx).gateApi();
    deps.authThrottle.check(clientAddress(ctx.req, trustProxy));
    access.guard(ctx);
  });

  koa.use(requestContext(scopes));
  for (const m of middleware) koa.use(m.middleware);

  registerOpsRoutes(routes, deps, ext.readiness ?? [], ext.isAdmin ?? null);
  registerExampleRoutes(routes);
  for (const add of ext.routes ?? []) add(routes);
  registerProxyRoutes(routes, deps, inflight);
  koa.use(routes.router.routes());
  // A known path with another method: 405 with `Allow`, rendered by the request scope.
  koa.use(routes.router.allowedMethods());

  const viaKoa = koa.callback();
  // Chat completions skip Koa (src/http/chat-lane.ts) unless extra middleware declared it must see them.
  const needChat = middleware.filter((m) => m.chat).map((m) => m.name);
  if (needChat.length > 0) {
    deps.logger.info({ middleware: needChat }, `chat completions go through Koa, not the chat lane, because middleware ${needChat.join(', ')} must see them`);
  }
  const lane = needChat.length === 0 ? chatLane(scopes, inflight) : null;
  const callback: ProxyApp['callback'] = lane
    ? (req, res) => {
        if (!lane(req, res)) void viaKoa(req, res);
      }
    : viaKoa;
  return { koa, inflight, routes, callback };
}

/** Each entry must declare itself ({@link ExtraMiddleware}); a bare function (untyped callers) is refused. */
function checkedMiddleware(list: readonly ExtraMiddleware[]): readonly ExtraMiddleware[] {
  for (const [i, m] of list.entries()) {
    const entry = m as Partial<ExtraMiddleware> | undefined;
    if (typeof entry !== 'object' || entry === null || typeof entry.middleware !== 'function' || typeof entry.chat !== 'boolean' || typeof entry.name !== 'string' || entry.name === '') {
      throw new TypeError(
        `ext.middleware[${i}] must be { name, middleware, chat }: say whether it must see chat completions ` +
          '(chat: true sends them through Koa instead of the chat lane)',
      );
    }
  }
  return list;
}
