/**
 * The outermost middleware: request id, the request's {@link Exchange}, the one place errors are
 * rendered (OpenAI shape, via toOpenAIError), and the end of every request that Koa answers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { AppDeps } from '../deps.js';
import { toOpenAIError, AuthThrottledError, HttpStatusError, ProxyError, RateLimitError, ServiceUnavailableError } from '../errors.js';
import { checkTarget } from './target.js';
import { Exchange } from '../relay/exchange.js';
import type { ClientKey } from '../auth/keys.js';
import { clip } from '../util/clip.js';

/** Per-request state kept on `ctx.state`. */
export interface ProxyState {
  ex: Exchange;
  /** The authenticated caller (auth middleware, issue 4); absent when auth is off. */
  client?: ClientKey;
  /** Set by a handler that wrote the response itself and finished the exchange. */
  handled?: boolean;
  /** Headers to add to error responses too (x-ratelimit-* from admission). */
  extraHeaders?: Record<string, string>;
}

const REQUEST_ID = /^[\w.:\-]{1,128}$/;

/**
 * The route label of a request no route matched. A matched request is labelled with its route's
 * template (src/http/route-table.ts), so labels never come from the raw path.
 */
export const UNMATCHED = 'unmatched';

/** The request's exchange, under the caller's `x-request-id` when it is sane, else a new id. */
export function exchangeFor(deps: AppDeps, method: string, route: string, givenId: string | undefined): Exchange {
  // Keep the caller's id when it is sane (it is echoed into logs and upstream headers).
  const id = givenId && REQUEST_ID.test(givenId) ? givenId : `req_${randomUUID().replace(/-/g, '')}`;
  return new Exchange(id, method, route, deps.clock, deps.bus);
}

/**
 * Does this request get a request record? API routes do, and so do unmatched requests for an
 * API-looking path in any casing (probes for the API are worth a log line).
 */
function recorded(ex: Exchange, rawPath: string): boolean {
  return ex.route.startsWith('/v1/') || (ex.route === UNMATCHED && /^\/v1\//i.test(rawPath));
}

/**
 * The client's address, for counting failed authentications: the socket's peer, or with
 * `server.trustProxy` the last `X-Forwarded-For` entry (the one the trusted proxy itself added;
 * the ones before it are the client's to choose).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const list = typeof xff === 'string' ? xff : undefined;
    if (list) return list.slice(list.lastIndexOf(',') + 1).trim();
  }
  return req.socket.remoteAddress ?? '';
}

/**
 * A request failed before a response started: render the error (the one renderer,
 * toOpenAIError), log what is not the proxy's own error, announce a rate limit, and finish the
 * exchange. The caller writes `rendered` in its own way (Koa's ctx, or the raw response).
 */
export function failed(deps: AppDeps, ex: Exchange, err: unknown, req: IncomingMessage): ReturnType<typeof toOpenAIError> {
  const rendered = toOpenAIError(err);
  if (rendered.status >= 500 && !(err instanceof ProxyError)) deps.logger.error({ err, requestId: ex.id }, 'unhandled error');
  if (rendered.status === 401) {
    deps.authThrottle.fail(clientAddress(req, deps.config.server.trustProxy));
    deps.metrics.authFailed();
  } else if (err instanceof AuthThrottledError) {
    deps.metrics.refused('auth_failures');
  }
  ex.error = rendered.body.error.message;
  if (err instanceof RateLimitError) {
    deps.bus.emit('request.rate_limited', { id: ex.id, key: ex.key, limit: err.type, model: ex.modelLabel, retryAfterMs: err.retryAfterMs, at: deps.clock.now() });
  }
  if (recorded(ex, req.url ?? '')) ex.finish(err instanceof RateLimitError ? 'rate_limited' : 'error', rendered.status);
  return rendered;
}

/** A request failed after its response started: the stream already carries what it can. */
export function failedLate(deps: AppDeps, ex: Exchange, err: unknown, status: number): void {
  deps.logger.error({ err, requestId: ex.id }, 'error after the response started');
  ex.finish('error', status);
}

/** Checks the caller's `Authorization` for the API (issue 4): throws 401, returns the caller's key. */
export type Authenticate = (authorization: string | undefined) => ClientKey | null;

/**
 * What every API route passes before its handler, on Koa and on the chat lane alike: refused
 * while the proxy drains (503), then an address with too many failed authentications (429), then
 * the API key check (401) when keys are on.
 */
export function gateApi(deps: AppDeps, authenticate: Authenticate | null, state: ProxyState, req: IncomingMessage): void {
  // `Connection: close` so the caller's next request opens a new connection, which a load
  // balancer sends to another instance (test/integration/shutdown-drain.test.ts).
  if (deps.state.draining) throw new ServiceUnavailableError('The proxy is shutting down; retry on another instance.', { code: 'server_shutdown', headers: { connection: 'close' } });
  deps.authThrottle.check(clientAddress(req, deps.config.server.trustProxy));
  const client = authenticate?.(req.headers.authorization) ?? null;
  if (client) {
    state.client = client;
    state.ex.key = client.name;
  }
}

/** Build the middleware. */
export function requestContext(deps: AppDeps): Koa.Middleware<ProxyState> {
  return async (ctx, next) => {
    const ex = exchangeFor(deps, ctx.method, UNMATCHED, ctx.get('x-request-id'));
    ctx.state.ex = ex;
    ctx.set('x-request-id', ex.id);
    deps.state.activeRequests++;
    try {
      checkTarget(ctx.url);
      await next();
      if (ctx.state.handled) return;
      if (ctx.body === undefined && (ctx.status === 405 || ctx.status === 501)) {
        // Set by the router's allowedMethods (src/app.ts), with its `Allow` header.
        const allow = ctx.response.get('allow');
        throw new HttpStatusError(ctx.status, `${ctx.method} is not allowed here${allow ? `; this path allows ${allow}` : ''}.`, {
          code: 'method_not_allowed',
          headers: allow ? { allow } : {},
        });
      }
      if (ctx.body === undefined && ctx.status === 404) {
        throw new ProxyError(404, 'invalid_request_error', `Unknown request URL: ${ctx.method} ${clip(ctx.path, 200)}.`, { code: 'unknown_url' });
      }
      if (recorded(ex, ctx.url)) ex.finish('done', ctx.status);
    } catch (err) {
      if (ctx.state.handled || ctx.res.headersSent) return failedLate(deps, ex, err, ctx.res.statusCode);
      const rendered = failed(deps, ex, err, ctx.req);
      ctx.status = rendered.status;
      for (const [k, v] of Object.entries({ ...(ctx.state.extraHeaders ?? {}), ...rendered.headers })) ctx.set(k, v);
      ctx.body = rendered.body;
    } finally {
      deps.state.activeRequests--;
    }
  };
}
