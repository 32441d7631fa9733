/**
 * The circuit breaker (issue 7) on a hand-driven clock: thresholds, cool-down, the single
 * half-open probe, in-flight counts, gauge reports and the readiness rule.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.js';
import { CircuitBreaker, breakerReadiness, type CircuitState } from '../../src/upstream/breaker.js';
import type { UpstreamHealth } from '../../src/upstream/breaker.js';
import { orderDeployments } from '../../src/upstream/selection.js';
import type { Deployment } from '../../src/upstream/router.js';

function make(threshold = 3, cooldownMs = 1000) {
  const clock = new ManualClock();
  const changes: Array<[string, boolean, CircuitState]> = [];
  const b = new CircuitBreaker({
    failureThreshold: threshold,
    cooldownMs,
    clock,
    upstreams: ['a', 'b'],
    routes: [
      { match: 'm', upstreams: ['a', 'b'] },
      { match: 'solo', upstreams: ['a'] },
    ],
    onChange: (u, up, s) => changes.push([u, up, s]),
  });
  changes.length = 0; // drop the start-up reports
  return { b, clock, changes };
}

/** One whole attempt, as the attempt loop drives it. */
function attempt(b: CircuitBreaker, u: string, ok: boolean): void {
  b.begin(u);
  b.end(u);
  if (ok) b.success(u);
  else b.failure(u);
}

describe('circuit breaker', () => {
  it('reports every known upstream as up at start', () => {
    const seen: string[] = [];
    new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1, clock: new ManualClock(), upstreams: ['x', 'y'], onChange: (u, up) => up && seen.push(u) });
    assert.deepEqual(seen, ['x', 'y']);
  });

  describe('when closed', () => {
    it('opens after failureThreshold consecutive failures, not before', () => {
      const { b, changes } = make(3);
      attempt(b, 'a', false);
      attempt(b, 'a', false);
      assert.equal(b.state('a'), 'closed');
      assert.equal(b.allows('a'), true);
      attempt(b, 'a', false);
      assert.equal(b.state('a'), 'open');
      assert.equal(b.allows('a'), false);
      assert.deepEqual(changes, [['a', false, 'open']]);
    });

    it('a success resets the count: failures must be consecutive', () => {
      const { b } = make(3);
      attempt(b, 'a', false);
      attempt(b, 'a', false);
      attempt(b, 'a', true);
      attempt(b, 'a', false);
      attempt(b, 'a', false);
      assert.equal(b.state('a'), 'closed');
    });

    it('keeps circuits apart per upstream', () => {
      const { b } = make(1);
      attempt(b, 'a', false);
      assert.equal(b.state('a'), 'open');
      assert.equal(b.state('b'), 'closed');
      assert.equal(b.allows('b'), true);
    });
  });

  describe('when open', () => {
    it('refuses until the cool-down is over, then lets exactly one probe in', () => {
      const { b, clock, changes } = make(1, 1000);
      attempt(b, 'a', false);
      clock.advance(999);
      assert.equal(b.allows('a'), false);
      clock.advance(1);
      assert.equal(b.allows('a'), true);
      b.begin('a'); // the probe
      assert.equal(b.state('a'), 'half_open');
      assert.equal(b.allows('a'), false, 'a second request must not join the probe');
      b.end('a');
      b.success('a');
      assert.equal(b.state('a'), 'closed');
      assert.equal(b.allows('a'), true);
      assert.deepEqual(changes, [
        ['a', false, 'open'],
        ['a', true, 'half_open'],
        ['a', true, 'closed'],
      ]);
    });

    it('a failed probe re-opens it for a whole new cool-down', () => {
      const { b, clock } = make(1, 1000);
      attempt(b, 'a', false);
      clock.advance(1000);
      attempt(b, 'a', false);
      assert.equal(b.state('a'), 'open');
      clock.advance(999);
      assert.equal(b.allows('a'), false);
      clock.advance(1);
      assert.equal(b.allows('a'), true);
    });

    it('a probe that ends with no verdict (the caller left) frees the slot for the next request', () => {
      const { b, clock } = make(1, 1000);
      attempt(b, 'a', false);
      clock.advance(1000);
      b.begin('a');
      assert.equal(b.allows('a'), false);
      b.end('a'); // aborted: neither success nor failure
      assert.equal(b.state('a'), 'half_open');
      assert.equal(b.allows('a'), true);
    });

    it('a success while open (every deployment was open, so selection sent it anyway) closes it', () => {
      const { b } = make(1, 1000);
      attempt(b, 'a', false);
      attempt(b, 'a', true);
      assert.equal(b.state('a'), 'closed');
    });

    it('a failure while open restarts the cool-down', () => {
      const { b, clock } = make(1, 1000);
      attempt(b, 'a', false);
      clock.advance(600);
      b.failure('a');
      clock.advance(600);
      assert.equal(b.allows('a'), false);
      clock.advance(400);
      assert.equal(b.allows('a'), true);
    });
  });

  it('counts requests in flight per upstream (least-in-flight selection)', () => {
    const { b } = make();
    b.begin('a');
    b.begin('a');
    b.begin('b');
    assert.equal(b.inFlight('a'), 2);
    assert.equal(b.inFlight('b'), 1);
    b.end('a');
    b.end('a');
    b.end('a'); // never below zero
    assert.equal(b.inFlight('a'), 0);
    // Least-in-flight puts the idler one first (selection calls inFlight detached from the breaker).
    b.end('b');
    b.begin('a');
    const d = (u: string): Deployment => ({ upstream: u, weight: 1, priority: 0 }) as Deployment;
    for (const random of [() => 0.1, () => 0.9]) {
      const order = orderDeployments([d('a'), d('b')], b, { leastInFlight: true, random });
      assert.deepEqual(
        order.map((x) => x.upstream),
        ['b', 'a'],
      );
    }
  });

  it('selection skips an open circuit, and offers none when every one is open', () => {
    const { b } = make(1);
    const d = (u: string): Deployment => ({ upstream: u, weight: 1, priority: 0 }) as Deployment;
    attempt(b, 'a', false);
    assert.deepEqual(
      orderDeployments([d('a'), d('b')], b, { leastInFlight: false }).map((x) => x.upstream),
      ['b'],
    );
    attempt(b, 'b', false);
    assert.equal(orderDeployments([d('a'), d('b')], b, { leastInFlight: false }).length, 0);
  });

  describe('readiness', () => {
    it('is ok while any upstream is usable, and lists each upstream and the routes left without one', () => {
      const { b, clock } = make(1, 1000);
      let r = b.readiness();
      assert.equal(r.ok, true);
      assert.equal(r.name, 'upstreams');
      attempt(b, 'a', false); // route solo has only a: it cannot be served, but m still can (b)
      r = b.readiness();
      assert.equal(r.ok, true, 'one open circuit does not take the instance out');
      const detail = r.detail as { upstreams: Record<string, { state: string; retryInMs?: number }>; unavailableRoutes: string[] };
      assert.equal(detail.upstreams.a!.state, 'open');
      assert.equal(detail.upstreams.a!.retryInMs, 1000);
      assert.equal(detail.upstreams.b!.state, 'closed');
      assert.deepEqual(detail.unavailableRoutes, ['solo']);
      attempt(b, 'b', false); // every upstream open: nothing can be served from here
      r = b.readiness();
      assert.equal(r.ok, false);
      assert.deepEqual((r.detail as { unavailableRoutes: string[] }).unavailableRoutes, ['m', 'solo']);
      clock.advance(1000); // cooled down: the next request may probe, so the routes are usable again
      assert.equal(b.readiness().ok, true);
      b.begin('a'); // probe in flight: still counted usable
      assert.equal(b.readiness().ok, true);
    });

    it('is contributed only by a breaker', () => {
      const plain: UpstreamHealth = { allows: () => true, success() {}, failure() {}, begin() {}, end() {}, reconfigure() {} };
      assert.equal(breakerReadiness(plain).length, 0);
      assert.equal(breakerReadiness(make().b).length, 1);
    });
  });
});
