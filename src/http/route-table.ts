/**
 * Every route the app serves, each declared with who may call it: deny by default. A route is
 * registered only through {@link RouteTable.add}, which puts its access check in front of its
 * handler, so authentication hangs on the matched route, never on a path prefix, and a route
 * added later cannot be forgotten: test/security/routes.test.ts calls every entry of
 * {@link RouteTable.list} without credentials and expects 401 from each one not public.
 *
 * Routing is case-sensitive and strict (no trailing-slash or case variants), as OpenAI's API is;
 * the matched route's template is the request's metric and log label (a bounded set).
 */
import Router from '@koa/router';
import type Koa from 'koa';
import type { ProxyState } from './request-context.js';

/** Methods a route may take (GET implies HEAD). */
export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** A route's own credential check (admin key or session, metrics token): throws 401/403. */
export type RouteGuard = (ctx: Koa.ParameterizedContext<ProxyState>) => void;

/**
 * Who may call a route:
 * - `public`: anyone (liveness, readiness, the dashboard's static files);
 * - `api`: a client key, through the app's API gate (draining, key, throttle);
 * - `{ guard }`: its own credential.
 */
export type RouteAccess = 'public' | 'api' | { guard: RouteGuard };

/** A route to add. */
export interface RouteSpec {
  methods: readonly HttpMethod[];
  /** Path template (`:name` for one segment); also the route's label. */
  path: string;
  access: RouteAccess;
  handler: Koa.Middleware<ProxyState>;
}

/** What the table says of a registered route. */
export interface RouteEntry {
  methods: readonly HttpMethod[];
  path: string;
  access: 'public' | 'api' | 'guard';
}

/** Runs a route's access check; throws the error to render. */
export type AccessCheck = (ctx: Koa.ParameterizedContext<ProxyState>, access: RouteAccess) => void;

/** The app's routes and their access. */
export class RouteTable {
  readonly router = new Router<ProxyState>({ sensitive: true, strict: true });
  private readonly entries: RouteEntry[] = [];

  constructor(private readonly check: AccessCheck) {}

  /** Register a route behind its access check. */
  add(spec: RouteSpec): void {
    const { path, access } = spec;
    const enter: Koa.Middleware<ProxyState> = (ctx, next) => {
      ctx.state.ex.route = path;
      this.check(ctx, access);
      return next();
    };
    this.router.register(path, [...spec.methods], [enter, spec.handler]);
    this.entries.push({ methods: spec.methods, path, access: typeof access === 'string' ? access : 'guard' });
  }

  /** Every registered route. */
  list(): readonly RouteEntry[] {
    return this.entries;
  }
}
