/**
 * The one per-request wrapper, for the Koa routes (src/http/request-context.ts adapts it) and the
 * chat lane (src/http/chat-lane.ts) alike: request id and {@link Exchange}, the active-request
 * count, the request-target check, the API gate for routes that ask for it, and the end of the
 * request: errors before the head rendered once (OpenAI shape, {@link toOpenAIError} through
 * {@link failed}) and written on the raw response, errors after it ended as {@link failedLate}.
 * test/integration/chat-lane.test.ts holds the two paths to the same answers and records.
 *
 * Allocation-light, as the lane needs (bench/profile.ts, bench/heap.ts): the scope is the
 * request's state object itself (methods on the prototype), and {@link RequestScope.run} chains
 * continuations instead of keeping a suspended async function for as long as a stream is open.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppDeps } from '../deps.js';
import { toOpenAIError, AuthThrottledError, ProxyError, RateLimitError, ServiceUnavailableError } from '../errors.js';
import { checkTarget } from './target.js';
import { Exchange } from '../relay/exchange.js';
import type { ClientKey } from '../auth/keys.js';
import { writeRendered } from '../util/write-error.js';

/** Per-request state: the request's {@link RequestScope} (Koa's `ctx.state`, the lane's state). */
export interface ProxyState {
  ex: Exchange;
  /** The authenticated caller (the API gate); absent when auth is off. */
  client?: ClientKey;
  /** Set by a handler that wrote the response itself and finished the exchange. */
  handled?: boolean;
  /** Headers to add to error responses too (x-ratelimit-* from admission). */
  extraHeaders?: Record<string, string>;
}

/** Checks the caller's `Authorization` for the API: throws 401, returns the caller's key. */
export type Authenticate = (authorization: string | undefined) => ClientKey | null;

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
 * exchange. {@link RequestScope.fail} writes what it returns.
 */
function failed(deps: AppDeps, ex: Exchange, err: unknown, req: IncomingMessage): ReturnType<typeof toOpenAIError> {
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
function failedLate(deps: AppDeps, ex: Exchange, err: unknown, status: number): void {
  deps.logger.error({ err, requestId: ex.id }, 'error after the response started');
  ex.finish('error', status);
}

/** What one app's scopes share: its configuration's deps and its API key check. */
export class RequestScopes {
  constructor(
    readonly deps: AppDeps,
    readonly authenticate: Authenticate | null,
  ) {}

  /**
   * Open a request's scope: its exchange (under `route`, {@link UNMATCHED} until a route
   * matches), its `x-request-id` header, one more active request. Throws nothing; end it with
   * {@link RequestScope.run} (or {@link RequestScope.fail} and {@link RequestScope.close}).
   */
  open(req: IncomingMessage, res: ServerResponse, route: string): RequestScope {
    const given = req.headers['x-request-id'];
    const ex = exchangeFor(this.deps, req.method ?? '', route, typeof given === 'string' ? given : undefined);
    res.setHeader('x-request-id', ex.id);
    this.deps.state.activeRequests++;
    return new RequestScope(this, ex, req, res);
  }
}

/** One request's state and its wrapper; see the file comment. */
export class RequestScope implements ProxyState {
  client?: ClientKey;
  handled?: boolean;
  extraHeaders?: Record<string, string>;
  /** Set when {@link fail} wrote the error response itself (Koa must not respond then). */
  rendered = false;

  constructor(
    private readonly scopes: RequestScopes,
    readonly ex: Exchange,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  /**
   * Run the request: the target check, then `step` (sync or async). Whatever `step` throws or
   * rejects with goes to {@link fail}; the active count goes down at the end either way. A
   * synchronous failure is answered synchronously. Never rejects.
   */
  run(step: (scope: RequestScope, req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<void> {
    let ran: void | Promise<void>;
    try {
      checkTarget(this.req.url ?? '');
      ran = step(this, this.req, this.res);
    } catch (err) {
      this.end(err);
      return Promise.resolve();
    }
    if (ran === undefined) {
      this.close();
      return Promise.resolve();
    }
    return ran.then(
      () => this.close(),
      (err: unknown) => this.end(err),
    );
  }

  /**
   * The API gate, for a route whose access is `api`: refused while the proxy drains (503), then
   * an address with too many failed authentications (429), then the API key check (401) when
   * keys are on. The caller's key becomes the request's.
   */
  gateApi(): void {
    const { deps, authenticate } = this.scopes;
    this.gateDraining();
    deps.authThrottle.check(clientAddress(this.req, deps.config.server.trustProxy));
    const client = authenticate?.(this.req.headers.authorization) ?? null;
    if (client) {
      this.client = client;
      this.ex.key = client.name;
    }
  }

  /**
   * Refused while the proxy drains (503). `Connection: close` so the caller's next request opens a
   * new connection, which a load balancer sends to another instance
   * (test/integration/shutdown-drain.test.ts).
   */
  gateDraining(): void {
    if (this.scopes.deps.state.draining) throw new ServiceUnavailableError('The proxy is shutting down; retry on another instance.', { code: 'server_shutdown', headers: { connection: 'close' } });
  }

  /** The request was answered without an error and without a handler finishing it: record it. */
  done(status: number): void {
    if (recorded(this.ex, this.req.url ?? '')) this.ex.finish('done', status);
  }

  /**
   * The request failed. Before the head: render the error once and write it (with
   * `extraHeaders`), returning true. After it (or once a handler owns the response): end late.
   */
  fail(err: unknown): boolean {
    const { deps } = this.scopes;
    const res = this.res;
    if (this.handled || res.headersSent) {
      failedLate(deps, this.ex, err, res.statusCode);
      return false;
    }
    writeRendered(res, failed(deps, this.ex, err, this.req), this.extraHeaders);
    this.rendered = true;
    return true;
  }

  /** The request is over: one active request fewer. Once per scope. */
  close(): void {
    this.scopes.deps.state.activeRequests--;
  }

  private end(err: unknown): void {
    try {
      this.fail(err);
    } finally {
      this.close();
    }
  }
}
