/**
 * Failover and circuit breaking (issue 7), over real sockets: a route with two deployments on
 * scripted upstreams (a first by priority, then b). Retries happen only before the caller got
 * data, only for retryable failures, within the attempt and time bounds; the breaker takes a
 * failing deployment out of rotation and lets it back after a successful probe.
 */
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  allReleased,
  chat,
  chatBody,
  closedPort,
  dieAfter,
  get,
  hang,
  jsonAnswer,
  lastRecord,
  metricValue,
  sleep,
  startFaultUpstream,
  status,
  tokens,
  type FaultUpstream,
} from '../helpers/fault-upstream.js';

const MODEL = 'fo-model';

function routeConfig(aUrl: string, bUrl: string, extra: { server?: object; resilience?: object } = {}): Record<string, unknown> {
  return {
    server: { firstByteTimeoutMs: 300, ...extra.server },
    upstreams: { a: { baseUrl: aUrl }, b: { baseUrl: bUrl } },
    models: [{ match: MODEL, deployments: [{ upstream: 'a', priority: 0 }, { upstream: 'b', priority: 1 }] }],
    resilience: { breaker: { failureThreshold: 100 }, ...extra.resilience },
  };
}

describe('failover (integration)', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let proxy: TestProxy | null = null;

  beforeEach(async () => {
    a = await startFaultUpstream();
    b = await startFaultUpstream(tokens(3));
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = null;
    await a.close();
    await b.close();
  });

  const start = async (aUrl = a.baseUrl, extra: Parameters<typeof routeConfig>[2] = {}): Promise<TestProxy> =>
    (proxy = await startTestProxy({ config: routeConfig(aUrl, b.baseUrl, extra) }));

  describe('when the first deployment fails before the first token', () => {
    it('refuses connections: the caller gets the answer from the second; the record lists both attempts', async () => {
      const p = await start(`http://127.0.0.1:${await closedPort()}/v1`);
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1t2');
      assert.equal(r.done, true);
      const rec = await lastRecord(p, 1);
      assert.equal(rec.endReason, 'done');
      assert.equal(rec.upstream, 'b');
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', null],
          ['b', 200],
        ],
      );
      assert.match(rec.attempts[0]!.error!, /ECONNREFUSED/);
      await allReleased(p, [a, b]);
    });

    it('answers 503: the second answers; both attempts recorded with their statuses', async () => {
      a.script(status(503));
      const p = await start();
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1t2');
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', 503],
          ['b', 200],
        ],
      );
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      await allReleased(p, [a, b]);
    });

    it('stalls before headers: after firstByteTimeoutMs the second answers, and the stalled socket is closed', async () => {
      a.script(hang);
      const p = await start();
      const t0 = Date.now();
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1t2');
      assert.ok(Date.now() - t0 >= 290, 'waited for the first-byte timeout');
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', null],
          ['b', 200],
        ],
      );
      assert.match(rec.attempts[0]!.error!, /no response headers in time/);
      await allReleased(p, [a, b]);
    });

    it('also fails over a non-streaming request', async () => {
      a.script(status(502));
      b.script(jsonAnswer('hello'));
      const p = await start();
      const r = await chat(p.url, chatBody(MODEL, { stream: false }));
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.raw.toString()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content, 'hello');
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', 502],
          ['b', 200],
        ],
      );
    });
  });

  describe('when the first deployment answers 200 and breaks off before its first event', () => {
    it('the second answers, and is sent the same request (the body re-encoded, usage still asked for)', async () => {
      a.script(dieAfter(0, 'reset'));
      const p = await start();
      const body = chatBody(MODEL, { temperature: 0.25, messages: [{ role: 'user', content: 'héllo "quoted" \\ ☃' }] });
      const r = await chat(p.url, body);
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1t2');
      assert.equal(r.done, true);
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      // The proxy let go of the bytes it received once the first answer's head came (memory per
      // open stream, issue 6): the retry's body is the parsed request, encoded again.
      assert.deepEqual(b.requests[0]!.body, a.requests[0]!.body);
      assert.deepEqual(b.requests[0]!.body.stream_options, { include_usage: true });
      assert.deepEqual(b.requests[0]!.body.messages, body.messages);
      assert.equal(b.requests[0]!.body.temperature, 0.25);
      const rec = await lastRecord(p, 1);
      assert.equal(rec.endReason, 'done');
      assert.deepEqual(rec.attempts.map((x) => x.upstream), ['a', 'b']);
      await allReleased(p, [a, b]);
    });
  });

  describe('when the failure is not retryable', () => {
    it('no retry after output began: dies after 3 tokens → 3 tokens and an error frame; asked exactly once', async () => {
      a.script(dieAfter(3, 'reset'));
      const p = await start();
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1t2');
      assert.ok(r.error, 'an error frame ends the stream');
      assert.equal(r.error.code, 'upstream_disconnected');
      assert.equal(r.done, false);
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 0, 'the second deployment is not asked');
      const rec = await lastRecord(p, 1);
      assert.equal(rec.endReason, 'upstream_error');
      assert.equal(rec.attempts.length, 1);
      await allReleased(p, [a, b]);
    });

    it('a 400 is the caller’s answer, not retried', async () => {
      a.script(status(400, {}, { error: { message: 'bad messages', type: 'invalid_request_error', param: 'messages', code: null } }));
      const p = await start();
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 400);
      assert.deepEqual(JSON.parse(r.raw.toString()), { error: { message: 'bad messages', type: 'invalid_request_error', param: 'messages', code: null } });
      assert.equal(b.requests.length, 0);
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [['a', 400]],
      );
    });
  });

  describe('bounds', () => {
    it('maxAttempts: both failing → exactly maxAttempts attempts, the last error returned', async () => {
      a.script(status(503));
      b.script(status(500));
      const p = await start(a.baseUrl, { resilience: { maxAttempts: 3 } });
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.status, 503, 'a was tried last (a, b, a)');
      assert.equal(a.requests.length + b.requests.length, 3);
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', 503],
          ['b', 500],
          ['a', 503],
        ],
      );
    });

    it('a short Retry-After is honoured before asking the same deployment again', async () => {
      a.script((c) => (c.n === 1 ? status(429, { 'retry-after-ms': '250' })(c) : tokens(2)(c)));
      b.script(status(429, { 'retry-after-ms': '250' }));
      const p = await start(a.baseUrl, { resilience: { maxAttempts: 3 } });
      const t0 = Date.now();
      const r = await chat(p.url, chatBody(MODEL));
      const took = Date.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1');
      assert.ok(took >= 240, `waited for a's Retry-After (${took} ms)`);
      const rec = await lastRecord(p, 1);
      assert.deepEqual(
        rec.attempts.map((x) => [x.upstream, x.status]),
        [
          ['a', 429],
          ['b', 429],
          ['a', 200],
        ],
      );
    });

    it('a Retry-After longer than maxRetryAfterMs takes the deployment out of this request', async () => {
      a.script(status(429, { 'retry-after': '60' }));
      b.script(status(429, { 'retry-after': '30' }));
      const p = await start(a.baseUrl, { resilience: { maxAttempts: 5, maxRetryAfterMs: 1000 } });
      const t0 = Date.now();
      const r = await chat(p.url, chatBody(MODEL));
      assert.ok(Date.now() - t0 < 1000, 'no waiting');
      assert.equal(r.status, 429);
      assert.equal(r.headers['retry-after'], '30', "the caller gets the last upstream's Retry-After");
      assert.equal(a.requests.length + b.requests.length, 2);
    });

    it('the retry budget: a Retry-After that would end past retryBudgetMs is not waited for', async () => {
      a.script(status(503, { 'retry-after-ms': '600' }));
      b.script(status(503, { 'retry-after-ms': '600' }));
      const p = await start(a.baseUrl, { resilience: { maxAttempts: 5, retryBudgetMs: 300 } });
      const t0 = Date.now();
      const r = await chat(p.url, chatBody(MODEL));
      assert.ok(Date.now() - t0 < 500, `gave up within the budget (${Date.now() - t0} ms)`);
      assert.equal(r.status, 503);
      assert.equal(a.requests.length + b.requests.length, 2);
      const rec = await lastRecord(p, 1);
      assert.equal(rec.attempts.length, 2);
    });
  });

  describe('circuit breaker', () => {
    async function readyz(p: TestProxy): Promise<{ status: number; body: { checks: Array<{ name: string; ok: boolean; detail: { upstreams: Record<string, { state: string }> } }> } }> {
      const res = await get(`${p.url}/readyz`);
      return { status: res.status, body: JSON.parse(res.text) as never };
    }
    const upState = async (p: TestProxy, u: string): Promise<string> =>
      (await readyz(p)).body.checks.find((c) => c.name === 'upstreams')!.detail.upstreams[u]!.state;
    async function upMetric(p: TestProxy, u: string): Promise<string | undefined> {
      const { text } = await get(`${p.url}/metrics`);
      return new RegExp(`^llm_proxy_upstream_up\\{upstream="${u}"\\} (\\d)$`, 'm').exec(text)?.[1];
    }

    it('opens after N failures (no more traffic to it), closes after recovery; visible in /readyz and llm_proxy_upstream_up', async () => {
      a.script(status(503));
      const p = await start(a.baseUrl, { resilience: { breaker: { failureThreshold: 2, cooldownMs: 500 } } });
      assert.equal(await upMetric(p, 'a'), '1');
      assert.equal(await upState(p, 'a'), 'closed');

      for (let i = 1; i <= 2; i++) assert.equal((await chat(p.url, chatBody(MODEL))).status, 200);
      assert.equal(a.requests.length, 2);
      assert.equal(await upState(p, 'a'), 'open');
      assert.equal(await upMetric(p, 'a'), '0');
      const ready = await readyz(p);
      assert.equal(ready.status, 200, 'still ready: b serves the route');

      // Open: a gets nothing, the caller is served by b directly.
      for (let i = 0; i < 3; i++) assert.equal((await chat(p.url, chatBody(MODEL))).status, 200);
      assert.equal(a.requests.length, 2, 'no traffic to an open circuit');
      const rec = await lastRecord(p, 5);
      assert.deepEqual(
        rec.attempts.map((x) => x.upstream),
        ['b'],
      );

      // a recovers; after the cool-down one request probes it and closes the circuit.
      a.script(tokens(1));
      await sleep(550);
      const r = await chat(p.url, chatBody(MODEL));
      assert.equal(r.text, 't0', 'the probe went to a');
      assert.equal(a.requests.length, 3);
      assert.equal(await upState(p, 'a'), 'closed');
      assert.equal(await upMetric(p, 'a'), '1');
      assert.equal((await chat(p.url, chatBody(MODEL))).text, 't0', 'a takes traffic again');
      await allReleased(p, [a, b]);
    });

    it('a route whose only upstream is open does not take the instance out: /readyz 200, details show it open', async () => {
      a.script(status(503));
      const cfg = routeConfig(a.baseUrl, b.baseUrl, { resilience: { breaker: { failureThreshold: 1, cooldownMs: 10_000 } } });
      (cfg.models as unknown[]).push({ match: 'only-a', upstream: 'a' });
      const p = (proxy = await startTestProxy({ config: cfg }));
      assert.equal((await chat(p.url, chatBody('only-a'))).status, 503);
      assert.equal(await upState(p, 'a'), 'open');
      const ready = await readyz(p);
      assert.equal(ready.status, 200, 'b still serves fo-model from this instance');
      const upstreams = ready.body.checks.find((c) => c.name === 'upstreams')!;
      assert.equal(upstreams.ok, true);
      assert.equal(upstreams.detail.upstreams.a!.state, 'open');
      assert.equal(upstreams.detail.upstreams.b!.state, 'closed');
      assert.deepEqual((upstreams.detail as unknown as { unavailableRoutes: string[] }).unavailableRoutes, ['only-a']);
      assert.equal((await chat(p.url, chatBody(MODEL))).status, 200);
    });

    it('a failed probe re-opens the circuit', async () => {
      a.script(status(500));
      const p = await start(a.baseUrl, { resilience: { breaker: { failureThreshold: 1, cooldownMs: 300 } } });
      await chat(p.url, chatBody(MODEL));
      assert.equal(await upState(p, 'a'), 'open');
      await sleep(350);
      assert.equal((await chat(p.url, chatBody(MODEL))).status, 200, 'the probe failed over to b');
      assert.equal(a.requests.length, 2);
      assert.equal(await upState(p, 'a'), 'open');
      await chat(p.url, chatBody(MODEL));
      assert.equal(a.requests.length, 2, 'open again: no traffic');
    });

    it('every circuit open: 503 at once with Retry-After, no upstream asked, /readyz not ready; a probe after the cool-down', async () => {
      a.script(status(503));
      b.script(status(503));
      const p = await start(a.baseUrl, { resilience: { breaker: { failureThreshold: 1, cooldownMs: 1_500 } } });
      assert.equal((await chat(p.url, chatBody(MODEL))).status, 503);
      assert.equal(a.requests.length + b.requests.length, 2);

      const t0 = Date.now();
      const r = await chat(p.url, chatBody(MODEL));
      assert.ok(Date.now() - t0 < 200, 'failed fast');
      assert.equal(r.status, 503);
      assert.equal(r.error?.code, 'upstream_circuit_open');
      assert.match(String(r.headers['retry-after']), /^[12]$/, 'the earliest probe, in whole seconds');
      assert.equal(a.requests.length + b.requests.length, 2, 'no upstream asked');
      const rec = await lastRecord(p, 2);
      assert.equal(rec.attempts.length, 0);
      const ready = await readyz(p);
      assert.equal(ready.status, 503);
      assert.deepEqual((ready.body.checks.find((c) => c.name === 'upstreams')!.detail as unknown as { unavailableRoutes: string[] }).unavailableRoutes, [MODEL]);

      a.script(tokens(1));
      await sleep(1_550);
      assert.equal((await readyz(p)).status, 200, 'probe due: ready again');
      assert.equal((await chat(p.url, chatBody(MODEL))).text, 't0');
      assert.equal(await upState(p, 'a'), 'closed');
      await allReleased(p, [a, b]);
    });

    it('a stream that breaks after data counts against the circuit', async () => {
      a.script(dieAfter(1, 'end'));
      const p = await start(a.baseUrl, { resilience: { breaker: { failureThreshold: 2, cooldownMs: 10_000 } } });
      await chat(p.url, chatBody(MODEL));
      await chat(p.url, chatBody(MODEL));
      assert.equal(await upState(p, 'a'), 'open');
      assert.equal(await metricValue(p.deps.registry, 'llm_proxy_upstream_up', { upstream: 'a' }), 0);
    });
  });

  /**
   * Chat and pass-through share one upstream attempt (src/relay/upstream-call.ts): the same rule
   * for what is an error status and the same `upstream.failed` bus event. Pass-through emitted
   * nothing before, and relayed a 3xx to the caller.
   */
  describe('upstream.failed: the same for chat and pass-through', () => {

    type Failed = { upstream: string; status: number | null; error: string };
    const listen = (p: TestProxy): Failed[] => {
      const seen: Failed[] = [];
      p.deps.bus.on('upstream.failed', (e) => seen.push({ upstream: e.upstream, status: e.status, error: e.error }));
      return seen;
    };
    const paths = [
      ['chat', '/v1/chat/completions'],
      ['pass-through', '/v1/embeddings'],
    ] as const;

    for (const [name, path] of paths) {
      it(`${name}: a refused connection emits upstream.failed (status null); the second deployment answers`, async () => {
        proxy = await startTestProxy({ config: routeConfig(`http://127.0.0.1:${await closedPort()}/v1`, b.baseUrl) });
        const seen = listen(proxy);
        const r = await chat(proxy.url, chatBody(MODEL), { path });
        assert.equal(r.status, 200);
        assert.equal(seen.length, 1);
        assert.equal(seen[0]!.upstream, 'a');
        assert.equal(seen[0]!.status, null);
        assert.match(seen[0]!.error, /ECONNREFUSED/);
        const rec = await lastRecord(proxy, 1);
        assert.deepEqual(rec.attempts.map((x) => [x.upstream, x.status]), [['a', null], ['b', 200]]);
      });

      it(`${name}: a 500 emits upstream.failed with the status`, async () => {
        a.script(status(500));
        proxy = await startTestProxy({ config: routeConfig(a.baseUrl, b.baseUrl) });
        const seen = listen(proxy);
        const r = await chat(proxy.url, chatBody(MODEL), { path });
        assert.equal(r.status, 200);
        assert.deepEqual(seen.map((e) => [e.upstream, e.status]), [['a', 500]]);
        const rec = await lastRecord(proxy, 1);
        assert.deepEqual(rec.attempts.map((x) => [x.upstream, x.status]), [['a', 500], ['b', 200]]);
      });

      it(`${name}: a 400 (the request's fault) is relayed and emits nothing`, async () => {
        a.script(status(400));
        proxy = await startTestProxy({ config: routeConfig(a.baseUrl, b.baseUrl) });
        const seen = listen(proxy);
        const r = await chat(proxy.url, chatBody(MODEL), { path });
        assert.equal(r.status, 400);
        assert.deepEqual(seen, []);
      });

      it(`${name}: a redirect is an error (502 upstream_redirect, not relayed), counted like a 5xx`, async () => {
        a.script(status(302, { location: 'http://elsewhere.test/v1/x' }));
        b.script(status(307, { location: 'http://elsewhere.test/v1/y' }));
        proxy = await startTestProxy({ config: routeConfig(a.baseUrl, b.baseUrl, { resilience: { maxAttempts: 2 } }) });
        const seen = listen(proxy);
        const r = await chat(proxy.url, chatBody(MODEL), { path });
        assert.equal(r.status, 502);
        assert.equal(r.error?.code, 'upstream_redirect');
        assert.equal(r.headers.location, undefined);
        assert.deepEqual(seen.map((e) => [e.upstream, e.status]), [['a', 302], ['b', 307]]);
      });
    }
  });
});
