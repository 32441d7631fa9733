/**
 * The attempt loop shared by every relay path (issue 7): try a route's deployments in order,
 * moving on only for retryable failures that happened before the caller got any data, within a
 * bounded number of attempts and total time; honour a short upstream Retry-After.
 */
import type { AppDeps } from '../deps.js';
import { ProxyError, UpstreamError } from '../errors.js';
import type { Exchange } from './exchange.js';
import type { Deployment, Route } from '../upstream/router.js';
import { orderDeployments } from '../upstream/selection.js';
import { isRetryable, retryAfterMs } from '../upstream/retry-policy.js';

/** What one attempt produced. */
export type AttemptOutcome<T> = { ok: T } | { error: ProxyError; retryable: boolean };

/** Run `attempt` over the route's deployments until one succeeds or the budget is spent. */
export async function runAttempts<T>(
  deps: AppDeps,
  ex: Exchange,
  route: Route,
  signal: AbortSignal,
  attempt: (d: Deployment) => Promise<AttemptOutcome<T>>,
): Promise<T> {
  const r = deps.config.resilience;
  const order = orderDeployments(route.deployments, deps.health, { leastInFlight: r.leastInFlight });
  const started = deps.clock.monotonic();
  // A single deployment is not retried here: the caller's SDK already retries 429/5xx with the
  // Retry-After we pass through, and retrying in both places multiplies the load on a sick upstream.
  const attempts = order.length > 1 ? r.maxAttempts : 1;
  const notBefore = new Map<Deployment, number>();
  let last: ProxyError = new UpstreamError('No upstream deployment is available.');
  for (let i = 0; i < attempts; i++) {
    if (signal.aborted) break;
    const d = order[i % order.length]!;
    const wait = (notBefore.get(d) ?? 0) - deps.clock.monotonic();
    if (wait > 0) await delay(wait, signal);
    ex.upstream = d.upstream;
    deps.health.begin(d.upstream);
    let outcome: AttemptOutcome<T>;
    try {
      outcome = await attempt(d);
    } finally {
      deps.health.end(d.upstream);
    }
    if ('ok' in outcome) {
      deps.health.success(d.upstream);
      return outcome.ok;
    }
    last = outcome.error;
    if (last.status >= 500 || last.status === 429 || last.status === 408) deps.health.failure(d.upstream);
    if (!outcome.retryable || !isRetryable(last)) break;
    // Honour the upstream's Retry-After before coming back to it, if it is short enough.
    const ra = retryAfterMs(last, deps.clock.now());
    if (ra !== null) {
      if (ra > r.maxRetryAfterMs) notBefore.set(d, Infinity);
      else notBefore.set(d, deps.clock.monotonic() + ra);
    }
    const next = order[(i + 1) % order.length]!;
    if (notBefore.get(next) === Infinity) break;
    if (deps.clock.monotonic() - started > r.retryBudgetMs) break;
  }
  throw last;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
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
