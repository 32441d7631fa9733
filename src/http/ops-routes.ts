/**
 * Operational routes: liveness, readiness, Prometheus metrics (README "Endpoints").
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import { AuthenticationError } from '../errors.js';
import type { RouteAccess, RouteTable } from './route-table.js';
import { configDigest } from '../config/diff.js';

/** Extra readiness checks (stores, breakers) contributed by other modules. */
import type { ReadinessCheck } from '../util/readiness.js';

/** Constant-time comparison of two secrets of any length. */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Who may see the readiness details: an admin key (src/features.ts), or anyone when keys are off. */
export type AdminCheck = (authorization: string | undefined) => boolean;

/**
 * Register /healthz, /readyz and /metrics. The bare readiness status is public (load balancers
 * read it); its details (checks, upstream names) need an admin key unless
 * `server.readyzDetails: public`.
 */
export function registerOpsRoutes(table: RouteTable, deps: AppDeps, checks: readonly ReadinessCheck[], isAdmin: AdminCheck | null): void {
  table.add({
    methods: ['GET'],
    path: '/healthz',
    access: 'public',
    handler: (ctx) => {
      ctx.body = { status: 'ok' };
    },
  });

  const detailsForAll = deps.config.server.readyzDetails === 'public' || isAdmin === null;
  // Which configuration this instance serves: operators compare it across instances after a reload.
  const config = configDigest(deps.config);
  table.add({
    methods: ['GET'],
    path: '/readyz',
    access: 'public',
    handler: (ctx) => {
      const results = checks.map((c) => c());
      const ready = !deps.state.draining && results.every((r) => r.ok);
      ctx.status = ready ? 200 : 503;
      const status = ready ? 'ready' : 'not_ready';
      const details = detailsForAll || isAdmin(ctx.get('authorization') || undefined);
      ctx.body = details ? { status, config, draining: deps.state.draining, checks: results } : { status, config };
    },
  });

  if (deps.config.metrics.enabled) {
    const token = deps.config.metrics.token;
    const access: RouteAccess = token
      ? {
          guard: (ctx) => {
            const auth = ctx.get('authorization');
            const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
            if (!given || !sameSecret(given, token)) throw new AuthenticationError('A valid bearer token is required for /metrics.');
          },
        }
      : 'public';
    table.add({
      methods: ['GET'],
      path: '/metrics',
      access,
      handler: async (ctx) => {
        ctx.type = deps.registry.contentType;
        ctx.body = await deps.registry.metrics();
      },
    });
  }
}
