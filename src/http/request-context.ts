/**
 * The outermost middleware: request id, the request's {@link Exchange}, the one place errors are
 * rendered (OpenAI shape, via toOpenAIError), and the end of every request that Koa answers.
 */
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { AppDeps } from '../deps.js';
import { toOpenAIError, ProxyError, RateLimitError, ServiceUnavailableError } from '../errors.js';
import { Exchange } from '../relay/exchange.js';
import type { ClientKey } from '../auth/keys.js';

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

/** Endpoints labelled by their own path in metrics and logs; other /v1 paths are `/v1/*`. */
const KNOWN_ROUTES = new Set([
  '/v1/chat/completions', '/v1/models', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/moderations',
  '/v1/audio/transcriptions', '/v1/audio/speech', '/v1/images/generations',
]);

/** A bounded route label: the endpoint, never ids in the path (`/v1/files/<id>`). */
export function routeLabel(path: string): string {
  if (KNOWN_ROUTES.has(path)) return path;
  return path.startsWith('/v1/') ? '/v1/*' : path;
}

/** The request's exchange, under the caller's `x-request-id` when it is sane, else a new id. */
export function exchangeFor(deps: AppDeps, method: string, path: string, givenId: string | undefined): Exchange {
  // Keep the caller's id when it is sane (it is echoed into logs and upstream headers).
  const id = givenId && REQUEST_ID.test(givenId) ? givenId : `req_${randomUUID().replace(/-/g, '')}`;
  return new Exchange(id, method, routeLabel(path), deps.clock, deps.bus);
}

/**
 * A request failed before a response started: render the error (the one renderer,
 * toOpenAIError), log what is not the proxy's own error, announce a rate limit, and finish the
 * exchange. The caller writes `rendered` in its own way (Koa's ctx, or the raw response).
 */
export function failed(deps: AppDeps, ex: Exchange, err: unknown): ReturnType<typeof toOpenAIError> {
  const rendered = toOpenAIError(err);
  if (rendered.status >= 500 && !(err instanceof ProxyError)) deps.logger.error({ err, requestId: ex.id }, 'unhandled error');
  ex.error = rendered.body.error.message;
  if (err instanceof RateLimitError) {
    deps.bus.emit('request.rate_limited', { id: ex.id, key: ex.key, limit: err.type, model: ex.modelLabel, retryAfterMs: err.retryAfterMs, at: deps.clock.now() });
  }
  if (ex.route.startsWith('/v1/')) ex.finish(err instanceof RateLimitError ? 'rate_limited' : 'error', rendered.status);
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
 * What every /v1 request passes before its route, on Koa and on the chat lane alike: refused
 * while the proxy drains (503), then the API key check (401) when keys are on.
 */
export function gateApi(deps: AppDeps, authenticate: Authenticate | null, state: ProxyState, authorization: string | undefined): void {
  if (deps.state.draining) throw new ServiceUnavailableError('The proxy is shutting down; retry on another instance.', { code: 'draining' });
  const client = authenticate?.(authorization) ?? null;
  if (client) {
    state.client = client;
    state.ex.key = client.name;
  }
}

/** Build the middleware. */
export function requestContext(deps: AppDeps): Koa.Middleware<ProxyState> {
  return async (ctx, next) => {
    const ex = exchangeFor(deps, ctx.method, ctx.path, ctx.get('x-request-id'));
    ctx.state.ex = ex;
    ctx.set('x-request-id', ex.id);
    deps.state.activeRequests++;
    try {
      await next();
      if (ctx.state.handled) return;
      if (ctx.body === undefined && ctx.status === 404) {
        throw new ProxyError(404, 'invalid_request_error', `Unknown request URL: ${ctx.method} ${ctx.path}.`, { code: 'unknown_url' });
      }
      if (ex.route.startsWith('/v1/')) ex.finish('done', ctx.status);
    } catch (err) {
      if (ctx.state.handled || ctx.res.headersSent) return failedLate(deps, ex, err, ctx.res.statusCode);
      const rendered = failed(deps, ex, err);
      ctx.status = rendered.status;
      for (const [k, v] of Object.entries({ ...(ctx.state.extraHeaders ?? {}), ...rendered.headers })) ctx.set(k, v);
      ctx.body = rendered.body;
    } finally {
      deps.state.activeRequests--;
    }
  };
}
