/**
 * Order a route's deployments for one request (issue 7): by priority, then a weighted random
 * order within a priority, skipping deployments whose circuit is open (unless all are).
 */
import type { Deployment } from './router.js';

/** Tells whether a deployment may take traffic now (the circuit breaker, issue 7). */
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
  const random = opts.random ?? Math.random;
  const open = deployments.filter((d) => health.allows(d.upstream));
  // With every circuit open, still try them: an answer beats a certain failure.
  const pool = open.length > 0 ? open : [...deployments];
  const byPriority = new Map<number, Deployment[]>();
  for (const d of pool) byPriority.set(d.priority, [...(byPriority.get(d.priority) ?? []), d]);
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
