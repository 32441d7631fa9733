/**
 * The attempt loop shared by every relay path (test/integration/failover.test.ts): try a route's deployments in order,
 * moving on only for retryable failures that happened before the caller got any data, within a
 * bounded number of attempts and total time; honour a short upstream Retry-After.
 *
 * Bounds: at most `resilience.maxAttempts` attempts (one when the route has one deployment: the
 * caller's SDK already retries 429/5xx with the Retry-After we pass through, and retrying in both
 * places multiplies the load on a sick upstream). No attempt *starts* after `retryBudgetMs` from
 * the first, and no Retry-After wait may end past it; a started attempt is bounded by the
 * connect and first-byte timeouts, so the time to the caller's first byte is at most
 * `retryBudgetMs + connectTimeoutMs + firstByteTimeoutMs`.
 *
 * Circuit breaking: deployments whose circuit is open are skipped; when every one of the route's
 * is open the caller gets 503 `upstream_circuit_open` at once, with a Retry-After of the earliest
 * probe, and no upstream is asked (a dead upstream gets no traffic until its probe).
 *
 * Every attempt is in the exchange's record: the attempt function records what it saw, and an
 * attempt that ended without recording (aborted, or a path that forgot) is recorded here.
 */
import type { RelayDeps } from './relay-deps.js';
import { ProxyError, ServiceUnavailableError, UpstreamError, UpstreamStatusError } from '../errors.js';
import type { Exchange } from './exchange.js';
import type { Deployment, Route } from '../upstream/router.js';
import type { CancelSignal } from '../util/cancel.js';
import { orderDeployments } from '../upstream/selection.js';
import { CircuitBreaker } from '../upstream/breaker.js';
import { isRetryable, retryAfterMs } from '../upstream/retry-policy.js';

/** What one attempt produced. */
export type AttemptOutcome<T> =
  | {
      ok: T;
      /** The upstream answered, then failed (a stream that broke after data): no retry, but it counts against its circuit. */
      upstreamFailed?: boolean;
    }
  | { error: ProxyError; retryable: boolean };

/**
 * Does this error count against the upstream's circuit? Transport failures, timeouts, 408, 429
 * and 5xx do; any other 4xx is the request's fault and shows the upstream alive.
 */
export function isUpstreamFailure(err: ProxyError): boolean {
  if (err instanceof UpstreamStatusError) return err.status === 408 || err.status === 429 || err.status >= 500;
  return err.status >= 500;
}

/** Run `attempt` over the route's deployments until one succeeds or the budget is spent. */
export async function runAttempts<T>(
  deps: RelayDeps,
  ex: Exchange,
  route: Route,
  signal: CancelSignal,
  attempt: (d: Deployment) => Promise<AttemptOutcome<T>>,
): Promise<T> {
  const r = deps.config.resilience;
  const health = deps.health;
  // Every circuit of the route open (and its probe not due, or taken by another request): fail
  // fast rather than send traffic to upstreams known to be failing (the breaker's point).
  if (route.deployments.length > 0 && !route.deployments.some((d) => health.allows(d.upstream))) throw circuitOpen(route, health);
  const order = orderDeployments(route.deployments, health, { leastInFlight: r.leastInFlight });
  const started = deps.clock.monotonic();
  const deadline = started + r.retryBudgetMs;
  const maxAttempts = order.length > 1 ? r.maxAttempts : 1;
  /** Monotonic time before which a deployment may not be asked again (its Retry-After); Infinity = not at all. */
  // Made on the first Retry-After: most requests never need it (a Map is ~1 KB of heap per
  // open stream, bench/heap.ts).
  let notBefore: Map<Deployment, number> | null = null;
  // Built only when needed: an Error captures a stack trace, too costly for every request.
  let last: ProxyError | null = null;
  let cursor = 0;

  // The next deployment in order (cycling) that is neither excluded nor refused by its breaker
  // (its circuit may have opened, or another request taken its half-open probe, meanwhile).
  const next = (): Deployment | null => {
    for (let k = 0; k < order.length; k++) {
      const d = order[(cursor + k) % order.length]!;
      if (notBefore?.get(d) === Infinity) continue;
      if (!health.allows(d.upstream)) continue;
      cursor = (cursor + k + 1) % order.length;
      return d;
    }
    return null;
  };

  // `n` counts attempts made: a deployment its breaker refuses after a Retry-After wait uses none.
  for (let n = 0; n < maxAttempts && !signal.aborted; ) {
    const d = next();
    if (d === null) break;
    const wait = Math.max(0, (notBefore?.get(d) ?? 0) - deps.clock.monotonic());
    if (n > 0 && deps.clock.monotonic() + wait > deadline) break;
    if (wait > 0) {
      await delay(wait, signal);
      if (signal.aborted) break;
      // (next() skips it from now on: this happens at most once per deployment.)
      if (!health.allows(d.upstream)) continue;
    }
    n++;
    ex.upstream = d.upstream;
    const recorded = ex.attempts.length;
    const t0 = deps.clock.monotonic();
    health.begin(d.upstream);
    let outcome: AttemptOutcome<T>;
    try {
      outcome = await attempt(d);
    } catch (err) {
      // Aborted (the caller left, shutdown) or a bug: no verdict on the upstream, but on the record.
      if (ex.attempts.length === recorded) ex.addAttempt(d.upstream, null, (err as Error)?.message ?? String(err), t0);
      throw err;
    } finally {
      health.end(d.upstream);
    }
    if ('ok' in outcome) {
      if (outcome.upstreamFailed) health.failure(d.upstream);
      else health.success(d.upstream);
      return outcome.ok;
    }
    last = outcome.error;
    if (ex.attempts.length === recorded) ex.addAttempt(d.upstream, last instanceof UpstreamStatusError ? last.status : null, last.message, t0);
    if (isUpstreamFailure(last)) health.failure(d.upstream);
    else health.success(d.upstream);
    if (!outcome.retryable || !isRetryable(last)) break;
    // Honour the upstream's Retry-After before coming back to it, if it is short enough;
    // otherwise leave it out of this request (the other deployments are tried at once).
    const ra = retryAfterMs(last, deps.clock.now());
    if (ra !== null) (notBefore ??= new Map()).set(d, ra > r.maxRetryAfterMs ? Infinity : deps.clock.monotonic() + ra);
  }
  throw last ?? new UpstreamError('No upstream deployment is available.');
}

/** 503 with a Retry-After of the earliest probe, when every deployment of the route is open. */
function circuitOpen(route: Route, health: RelayDeps['health']): ProxyError {
  const waitMs = Math.min(...route.deployments.map((d) => (health instanceof CircuitBreaker ? health.retryInMs(d.upstream) : 1000)));
  return new ServiceUnavailableError(`Every upstream for this model is failing (circuit open); retry in ${Math.ceil(waitMs / 1000)} s.`, {
    code: 'upstream_circuit_open',
    headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
  });
}

function delay(ms: number, signal: CancelSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
