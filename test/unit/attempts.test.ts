/**
 * The attempt loop's bounds without sockets (src/relay/attempts.ts `runAttempts`, driven through
 * src/relay/chat.ts `relayChatStream` so the upstream's Retry-After travels the real path:
 * src/relay/upstream-response.ts keeps it on the error). Time is a ManualClock; the Retry-After
 * wait is a `setTimeout` on FakeTimers (test/helpers/fake-timers.ts), so nothing waits for real.
 * Over sockets: test/integration/failover.test.ts.
 *
 * The rules, as the code has them:
 * - at most `resilience.maxAttempts` attempts, and only one when the route has one deployment;
 * - no attempt starts later than `retryBudgetMs` after the first;
 * - an upstream Retry-After up to `maxRetryAfterMs` keeps *that deployment* out until it has
 *   passed (the others are tried at once; the loop waits only when it comes back to it); a
 *   longer one leaves it out of the request; a wait that would end past the budget is not made.
 */
import assert from 'node:assert/strict';
import { settle } from '../helpers/fake-timers.js';
import { chatHarness, contentChunk, DONE, type ChatHarness, type HarnessOptions } from '../helpers/relay-harness.js';

describe('attempt loop bounds, unit (manual clock)', () => {
  let h: ChatHarness;
  const make = (o: HarnessOptions): ChatHarness => {
    // No keep-alive and a long idle timeout: only the attempt loop's own timing is under test.
    h = chatHarness({ ...o, server: { keepAliveMs: 0, idleTimeoutMs: 600_000, ...o.server } });
    h.timers.install();
    return h;
  };
  afterEach(() => h?.timers.uninstall());

  /** Serve the `n`-th call with one content chunk and [DONE]. */
  async function serve(n: number): Promise<void> {
    const body = (await h.upstream.call(n)).respond(200);
    body.push(contentChunk(`from ${h.upstream.calls[n]!.upstream}`) + DONE);
    body.end();
  }

  /** The status and error code the caller got (before any data: a JSON error). */
  function callerError(): { status: number; code: string | null } {
    return { status: h.res.statusCode, code: (JSON.parse(h.res.text()) as { error: { code: string | null } }).error.code };
  }

  it('stops after maxAttempts: the third deployment is never asked', async () => {
    // Rule: `resilience.maxAttempts` bounds attempts per request.
    make({ upstreams: ['a', 'b', 'c'], resilience: { maxAttempts: 2 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(503);
    (await h.upstream.call(1)).respondError(502);
    const end = await done;
    await settle();
    assert.equal(h.upstream.calls.length, 2);
    assert.deepEqual(end, { reason: 'upstream_error', status: 502 });
    assert.equal(h.res.statusCode, 502, 'the last attempt’s error, as a real status');
  });

  it('stream: false — each attempt in the record is timed from its own start', async () => {
    // (The JSON path reads the answer's Readable: the fake's stream mode.)
    make({ upstreams: ['a', 'b'], mode: 'stream' });
    const done = h.startJson();
    const first = await h.upstream.call(0);
    h.clock.advance(300);
    first.respondError(503);
    const body = (await h.upstream.call(1)).respond(200, { 'content-type': 'application/json' });
    h.clock.advance(20);
    body.push('{"id":"x","object":"chat.completion","choices":[]}');
    body.end();
    await done;
    assert.deepEqual(
      h.ex.attempts.map((a) => [a.upstream, a.status, a.durationMs]),
      [
        ['a', 503, 300],
        ['b', 200, 20],
      ],
    );
  });

  it('one deployment: one attempt, whatever maxAttempts says', async () => {
    // Rule: the caller's SDK retries a single upstream itself (attempts.ts header comment).
    make({ upstreams: ['a'], resilience: { maxAttempts: 3 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(503);
    assert.deepEqual(await done, { reason: 'upstream_error', status: 503 });
    await h.timers.advance(10_000);
    assert.equal(h.upstream.calls.length, 1);
  });

  it('no attempt starts after retryBudgetMs: a first attempt that failed late is not retried', async () => {
    // Rule: `retryBudgetMs` from the first attempt bounds when another may start.
    make({ upstreams: ['a', 'b'], resilience: { retryBudgetMs: 1_000 } });
    const done = h.start();
    const a = await h.upstream.call(0);
    await h.timers.advance(1_001);
    a.respondError(503);
    assert.deepEqual(await done, { reason: 'upstream_error', status: 503 });
    assert.equal(h.upstream.calls.length, 1);
  });

  it('…while one that failed within the budget is retried', async () => {
    make({ upstreams: ['a', 'b'], resilience: { retryBudgetMs: 1_000 } });
    const done = h.start();
    const a = await h.upstream.call(0);
    await h.timers.advance(1_000);
    a.respondError(503);
    await serve(1);
    assert.deepEqual(await done, { reason: 'done', status: 200 });
  });

  it('Retry-After within maxRetryAfterMs: the other deployment at once, the same one only after the wait', async () => {
    // Rule: honour a short Retry-After before coming back to that deployment (attempts.ts `notBefore`).
    make({ upstreams: ['a', 'b'], resilience: { maxAttempts: 3, maxRetryAfterMs: 2_000 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(429, { 'retry-after': '1' });
    const b = await h.upstream.call(1);
    assert.equal(b.upstream, 'b', 'b is asked at once, no wait');
    b.respondError(503);
    await h.timers.advance(999);
    assert.equal(h.upstream.calls.length, 2, 'a is not asked again before its Retry-After');
    await h.timers.advance(1);
    const again = await h.upstream.call(2);
    assert.equal(again.upstream, 'a');
    await serve(2);
    assert.deepEqual(await done, { reason: 'done', status: 200 });
  });

  it('a deployment its breaker refuses after the Retry-After wait uses no attempt: the other is asked again', async () => {
    make({ upstreams: ['a', 'b'], resilience: { maxAttempts: 3, maxRetryAfterMs: 2_000 } });
    let refuseA = false;
    h.health.allows = (u: string) => !(refuseA && u === 'a');
    const done = h.start();
    (await h.upstream.call(0)).respondError(429, { 'retry-after': '1' });
    (await h.upstream.call(1)).respondError(503);
    // The loop is now waiting for a's Retry-After; meanwhile a's circuit opens.
    await settle();
    assert.equal(h.upstream.calls.length, 2);
    refuseA = true;
    await h.timers.advance(1_000);
    const third = await h.upstream.call(2);
    assert.equal(third.upstream, 'b', 'the third attempt goes to b');
    await serve(2);
    assert.deepEqual(await done, { reason: 'done', status: 200 });
    assert.equal(h.upstream.calls.length, 3);
  });

  it('retry-after-ms is read too, and takes precedence over retry-after', async () => {
    make({ upstreams: ['a', 'b'], resilience: { maxAttempts: 3, maxRetryAfterMs: 2_000 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(503, { 'retry-after-ms': '250', 'retry-after': '10' });
    (await h.upstream.call(1)).respondError(503);
    await h.timers.advance(249);
    assert.equal(h.upstream.calls.length, 2);
    await h.timers.advance(1);
    assert.equal((await h.upstream.call(2)).upstream, 'a');
    await serve(2);
    await done;
  });

  it('Retry-After beyond maxRetryAfterMs: that deployment is left out of the request, the others go on at once', async () => {
    // Rule: a long Retry-After is not waited for (notBefore = Infinity).
    make({ upstreams: ['a', 'b'], resilience: { maxAttempts: 3, maxRetryAfterMs: 2_000 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(429, { 'retry-after': '5' });
    (await h.upstream.call(1)).respondError(503);
    // No time passes: the third attempt goes to b again, never back to a.
    const third = await h.upstream.call(2);
    assert.equal(third.upstream, 'b');
    await serve(2);
    assert.deepEqual(await done, { reason: 'done', status: 200 });
    assert.deepEqual(
      h.upstream.calls.map((c) => c.upstream),
      ['a', 'b', 'b'],
    );
  });

  it('a Retry-After wait that would end past retryBudgetMs is not made: the caller gets the last error at once', async () => {
    // Rule: no Retry-After wait may end past the budget.
    make({ upstreams: ['a', 'b'], resilience: { maxAttempts: 3, maxRetryAfterMs: 5_000, retryBudgetMs: 1_500 } });
    const done = h.start();
    (await h.upstream.call(0)).respondError(429, { 'retry-after': '2' });
    (await h.upstream.call(1)).respondError(503);
    // Settles without the clock moving: no 2 s wait.
    assert.deepEqual(await done, { reason: 'upstream_error', status: 503 });
    assert.equal(h.upstream.calls.length, 2);
    assert.deepEqual(callerError(), { status: 503, code: null });
  });

  it('a non-retryable status (400) is not retried', async () => {
    // Rule: other 4xx would fail the same way anywhere (src/upstream/retry-policy.ts).
    make({ upstreams: ['a', 'b'] });
    const done = h.start();
    (await h.upstream.call(0)).respondError(400);
    assert.deepEqual(await done, { reason: 'upstream_error', status: 400 });
    assert.equal(h.upstream.calls.length, 1);
    assert.deepEqual(h.health.reports, ['success:a'], 'a 400 shows the upstream alive');
  });

  it('a transport failure before the head is retried on the next deployment', async () => {
    make({ upstreams: ['a', 'b'] });
    const done = h.start();
    (await h.upstream.call(0)).fail(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await serve(1);
    assert.deepEqual(await done, { reason: 'done', status: 200 });
    assert.deepEqual(
      h.ex.attempts.map((x) => [x.upstream, x.status]),
      [
        ['a', null],
        ['b', 200],
      ],
    );
  });
});
