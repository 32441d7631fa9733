/**
 * The outermost Koa middleware: a thin adapter over the one per-request wrapper,
 * {@link RequestScope} (src/http/request-scope.ts), which the chat lane uses too. The scope
 * becomes `ctx.state`; this adds only what is Koa's own: a known path with another method (405,
 * from the router's allowedMethods) or no route at all (404) turned into errors, and Koa told not
 * to respond when the scope wrote the error itself.
 */
import type Koa from 'koa';
import { HttpStatusError, ProxyError } from '../errors.js';
import { clip } from '../util/clip.js';
import { RequestScope, UNMATCHED, type ProxyState, type RequestScopes } from './request-scope.js';

export { clientAddress, UNMATCHED, type Authenticate, type ProxyState } from './request-scope.js';

/** The request's scope, which {@link requestContext} made `ctx.state`. */
export function scopeOf(ctx: Koa.ParameterizedContext<ProxyState>): RequestScope {
  const state = ctx.state;
  if (!(state instanceof RequestScope)) throw new Error('ctx.state is not the request scope: middleware must not replace it');
  return state;
}

/** After the routes: Koa's own "no such method" and "no such route" as errors, or the record. */
function afterRoutes(ctx: Koa.ParameterizedContext<ProxyState>, scope: RequestScope): void {
  if (scope.handled) return;
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
  scope.done(ctx.status);
}

/** Build the middleware over the app's scopes. */
export function requestContext(scopes: RequestScopes): Koa.Middleware<ProxyState> {
  return (ctx, next) => {
    const scope = scopes.open(ctx.req, ctx.res, UNMATCHED);
    ctx.state = scope;
    return scope
      .run(() => next().then(() => afterRoutes(ctx, scope)))
      .then(() => {
        // The scope wrote the error on the raw response; Koa must not write again.
        if (scope.rendered) ctx.respond = false;
      });
  };
}
