/**
 * Order a route's deployments for one request (test/integration/failover.test.ts): by priority, then a weighted random
 * order within a priority, skipping deployments whose circuit is open. (When every one is open the
 * attempt loop answers 503 before asking for an order: src/relay/attempts.ts.)
 */
import type { Deployment } from './router.js';

/** Tells whether a deployment may take traffic now (the circuit breaker, src/upstream/breaker.ts). */
export interface HealthView {
  allows(upstream: string): boolean;
  inFlight?(upstream: string): number;
}

/** Weighted shuffle (Efraimidis–Spirakis: key = u^(1/w), highest first). */
function weightedOrder(items: Deployment[], random: () => number): Deployment[] {
  if (items.length <= 1) return items;
  return items
    .map((d) => ({ d, k: Math.pow(random(), 1 / d.weight) }))
    .sort((a, b) => b.k - a.k)
    .map((x) => x.d);
}

/** The order in which to try a route's deployments. */
export function orderDeployments(
  deployments: readonly Deployment[],
  health: HealthView,
  opts: { leastInFlight: boolean; random?: () => number },
): Deployment[] {
  // The common route has one deployment: no grouping, shuffling or sorting per request.
  if (deployments.length === 1) return health.allows(deployments[0]!.upstream) ? [deployments[0]!] : [];
  const random = opts.random ?? Math.random;
  const byPriority = new Map<number, Deployment[]>();
  for (const d of deployments) {
    if (!health.allows(d.upstream)) continue;
    const group = byPriority.get(d.priority);
    if (group) group.push(d);
    else byPriority.set(d.priority, [d]);
  }
  const out: Deployment[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    let group = weightedOrder(byPriority.get(p)!, random);
    if (opts.leastInFlight && health.inFlight) {
      const inFlight = health.inFlight;
      group = [...group].sort((a, b) => inFlight(a.upstream) - inFlight(b.upstream));
    }
    out.push(...group);
  }
  return out;
}
