/**
 * Circuit breaker per upstream deployment (test/unit/breaker.test.ts), the {@link UpstreamHealth} the attempt loop
 * (src/relay/attempts.ts) and selection (src/upstream/selection.ts) consult.
 *
 * States, per upstream name (a deployment is identified by its upstream: that is the metric's
 * `upstream` label, and two routes sending to the same upstream share its health):
 * - closed: traffic flows; `failureThreshold` consecutive failures open it.
 * - open: `allows()` is false for `cooldownMs`; after that one request may probe it.
 * - half_open: the probe is in flight (`begin()` took it); nobody else gets in. Its success closes
 *   the circuit, its failure re-opens it for another cool-down; a probe that ends with no verdict
 *   (the caller left) frees the slot for the next request.
 * What is a failure is the attempt loop's call: connect errors, timeouts, 408/429/5xx and streams
 * that broke mid-way; any other answer (2xx, a 400) shows the upstream is alive and is a success.
 *
 * Reports every change to `llm_proxy_upstream_up{upstream}` (1 closed or half-open, 0 open) and
 * gives /readyz a check that fails only when every upstream is open (see {@link CircuitBreaker.readiness}).
 */
import type { Clock } from '../clock.js';
import type { ReadinessCheck } from '../util/readiness.js';
import type { HealthView } from './selection.js';

/**
 * Health bookkeeping per upstream: what the attempt loop (src/relay/attempts.ts) reports to and
 * selection reads. Declared here, in the layer that implements it, so neither src/upstream nor
 * src/relay imports src/deps.ts (.dependency-cruiser.cjs).
 */
export interface UpstreamHealth extends HealthView {
  /** A reloaded configuration's breaker settings, upstreams and routes (state kept by name). */
  reconfigure(next: { failureThreshold: number; cooldownMs: number; upstreams: readonly string[]; routes: ReadonlyArray<{ match: string; upstreams: readonly string[] }> }): void;
  success(upstream: string): void;
  failure(upstream: string): void;
  begin(upstream: string): void;
  end(upstream: string): void;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

/** What the breaker needs. */
export interface BreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  clock: Clock;
  /** Upstream names known at start-up: their gauge starts at 1. */
  upstreams?: readonly string[];
  /** Routes as lists of upstream names, for readiness (a route is usable while one of them is). */
  routes?: ReadonlyArray<{ match: string; upstreams: readonly string[] }>;
  /** Called on every state change (and once per known upstream at start). */
  onChange?: (upstream: string, up: boolean, state: CircuitState) => void;
}

interface Circuit {
  state: CircuitState;
  /** Consecutive failures while closed. */
  failures: number;
  /** Monotonic ms when the circuit last opened. */
  openedAt: number;
  /** A half-open probe is in flight. */
  probing: boolean;
  inFlight: number;
}

/** One upstream's state as /readyz shows it. */
export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  inFlight: number;
  /** While open: ms until a probe is allowed (0 = the next request probes). */
  retryInMs?: number;
}

export class CircuitBreaker implements UpstreamHealth {
  private readonly circuits = new Map<string, Circuit>();

  constructor(private opts: BreakerOptions) {
    for (const u of opts.upstreams ?? []) this.circuit(u);
  }

  /**
   * A reloaded configuration's thresholds, upstreams and routes. Circuits are kept by upstream
   * name: an upstream that stays keeps its state (a reload is not a recovery); a new one starts
   * closed.
   */
  reconfigure(next: Pick<BreakerOptions, 'failureThreshold' | 'cooldownMs' | 'upstreams' | 'routes'>): void {
    this.opts = { ...this.opts, ...next };
    for (const u of next.upstreams ?? []) this.circuit(u);
  }

  private circuit(upstream: string): Circuit {
    let c = this.circuits.get(upstream);
    if (!c) {
      c = { state: 'closed', failures: 0, openedAt: 0, probing: false, inFlight: 0 };
      this.circuits.set(upstream, c);
      this.opts.onChange?.(upstream, true, 'closed');
    }
    return c;
  }

  private set(upstream: string, c: Circuit, state: CircuitState): void {
    if (c.state === state) return;
    c.state = state;
    if (state === 'open') c.openedAt = this.opts.clock.monotonic();
    if (state !== 'half_open') c.probing = false;
    if (state === 'closed') c.failures = 0;
    this.opts.onChange?.(upstream, state !== 'open', state);
  }

  private cooledDown(c: Circuit): boolean {
    return this.opts.clock.monotonic() - c.openedAt >= this.opts.cooldownMs;
  }

  /** May a request go to `upstream` now? Synchronous with {@link begin}, so a probe is never shared. */
  allows(upstream: string): boolean {
    const c = this.circuits.get(upstream);
    if (!c || c.state === 'closed') return true;
    if (c.state === 'open') return this.cooledDown(c);
    return !c.probing;
  }

  /** A bound function: selection passes it around detached from the breaker (least-in-flight sort). */
  readonly inFlight = (upstream: string): number => this.circuits.get(upstream)?.inFlight ?? 0;

  /** An attempt starts. An open circuit past its cool-down turns half-open: this is the probe. */
  begin(upstream: string): void {
    const c = this.circuit(upstream);
    c.inFlight++;
    if (c.state === 'open' && this.cooledDown(c)) this.set(upstream, c, 'half_open');
    if (c.state === 'half_open' && !c.probing) c.probing = true;
  }

  /** The attempt is over; a probe that got no verdict frees its slot. */
  end(upstream: string): void {
    const c = this.circuit(upstream);
    c.inFlight = Math.max(0, c.inFlight - 1);
    if (c.state === 'half_open') c.probing = false;
  }

  success(upstream: string): void {
    const c = this.circuit(upstream);
    c.failures = 0;
    // A success seen while open came from a request let through because every deployment of its
    // route was open (selection's fallback): the upstream answers, so it is closed again.
    this.set(upstream, c, 'closed');
  }

  failure(upstream: string): void {
    const c = this.circuit(upstream);
    if (c.state === 'half_open') return this.set(upstream, c, 'open');
    if (c.state === 'open') {
      c.openedAt = this.opts.clock.monotonic(); // still failing: a new cool-down
      return;
    }
    c.failures++;
    if (c.failures >= this.opts.failureThreshold) this.set(upstream, c, 'open');
  }

  /** Time until `upstream` may be probed: 0 unless it is open and cooling down. */
  retryInMs(upstream: string): number {
    const c = this.circuits.get(upstream);
    if (!c || c.state !== 'open') return 0;
    return Math.max(0, Math.ceil(c.openedAt + this.opts.cooldownMs - this.opts.clock.monotonic()));
  }

  /** State of `upstream` (closed when never seen). */
  state(upstream: string): CircuitState {
    return this.circuits.get(upstream)?.state ?? 'closed';
  }

  /** Every known upstream's state. */
  snapshot(): Record<string, CircuitSnapshot> {
    const out: Record<string, CircuitSnapshot> = {};
    for (const [name, c] of this.circuits) {
      const s: CircuitSnapshot = { state: c.state, consecutiveFailures: c.failures, inFlight: c.inFlight };
      if (c.state === 'open') s.retryInMs = this.retryInMs(name);
      out[name] = s;
    }
    return out;
  }

  /**
   * The /readyz check. Readiness answers "should traffic come to this instance?", and a load
   * balancer that reads 503 takes the WHOLE instance out, so it fails only while no upstream a
   * route reaches may take a request (every circuit open and cooling down): then every route
   * can only answer errors from here. While some upstream is usable the instance still serves
   * the routes that reach it, and the other routes' callers get a fast 503
   * `upstream_circuit_open` with Retry-After, as they would from any instance sharing those
   * upstreams.
   * A deployment counts usable when closed, half-open (its probe decides), or open past its
   * cool-down (the next request probes it). The detail lists each upstream's state and the
   * routes without a usable deployment (test/integration/failover.test.ts "circuit breaker").
   */
  readonly readiness: ReadinessCheck = () => {
    const usable = (u: string): boolean => this.allows(u) || this.state(u) === 'half_open';
    const unavailableRoutes = (this.opts.routes ?? []).filter((r) => r.upstreams.length > 0 && !r.upstreams.some(usable)).map((r) => r.match);
    // The upstreams some route reaches: one no route sends to cannot serve anything anyway.
    const routed = this.opts.routes ? new Set(this.opts.routes.flatMap((r) => r.upstreams)) : new Set(this.circuits.keys());
    const ok = routed.size === 0 || [...routed].some(usable);
    return { name: 'upstreams', ok, detail: { upstreams: this.snapshot(), unavailableRoutes } };
  };
}

/** The readiness checks a health implementation contributes (none unless it is a breaker). */
export function breakerReadiness(health: UpstreamHealth): ReadinessCheck[] {
  return health instanceof CircuitBreaker ? [health.readiness] : [];
}
