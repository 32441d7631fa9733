/**
 * One /readyz check. Declared here, below both sides, because the checks come from lower layers
 * (src/upstream/breaker.ts's circuit check) while src/http/ops-routes.ts serves them; the layer
 * rules in .dependency-cruiser.cjs forbid src/upstream importing src/http.
 */
export type ReadinessCheck = () => { name: string; ok: boolean; detail?: unknown };
