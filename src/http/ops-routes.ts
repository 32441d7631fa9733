/**
 * Operational routes: liveness, readiness, Prometheus metrics (DESIGN.md "Endpoints").
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type Router from '@koa/router';
import type { AppDeps } from '../deps.js';
import { AuthenticationError } from '../errors.js';
import type { ProxyState } from './request-context.js';

/** Extra readiness checks (stores, breakers) contributed by other modules. */
export type ReadinessCheck = () => { name: string; ok: boolean; detail?: unknown };

/** Constant-time comparison of two secrets of any length. */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Register /healthz, /readyz and /metrics. */
export function registerOpsRoutes(router: Router<ProxyState>, deps: AppDeps, checks: readonly ReadinessCheck[]): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', (ctx) => {
    const results = checks.map((c) => c());
    const ready = !deps.state.draining && results.every((r) => r.ok);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', draining: deps.state.draining, checks: results };
  });

  if (deps.config.metrics.enabled) {
    const token = deps.config.metrics.token;
    router.get('/metrics', async (ctx) => {
      if (token) {
        const auth = ctx.get('authorization');
        const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
        if (!given || !sameSecret(given, token)) throw new AuthenticationError('A valid bearer token is required for /metrics.');
      }
      ctx.type = deps.registry.contentType;
      ctx.body = await deps.registry.metrics();
    });
  }
}
