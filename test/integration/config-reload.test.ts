/**
 * Live configuration (src/reload.ts): a reload under load swaps what new requests run on while
 * open streams finish on the configuration they started with; an invalid file changes nothing
 * and the reload endpoint lists every problem; limit state is kept; repeated reloads leak
 * nothing. The in-process proxy's "file" is the test's config object (test/helpers/proxy.ts
 * `reload`); test/integration/config-reload-process.test.ts drives a real file and SIGHUP.
 */
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { openSse, rawRequest, within, type SseReader } from '../helpers/upstream.js';
import { metricValue, waitUntil } from '../helpers/fault-upstream.js';

const ADMIN = 'reload-admin-key-0001';
const ROTATE_OLD = 'reload-rotating-old-0001';
const ROTATE_NEW = 'reload-rotating-new-0001';
const REMOVED = 'reload-removed-key-0001';
const LIMITED = 'reload-limited-key-0001';

/** The "file" before the reload. */
function before(): Record<string, unknown> {
  return {
    upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 50, defaultMaxTokens: 60 } } },
    models: [{ match: 'sim-*', upstream: 'sim' }],
    keys: [
      { name: 'ops', key: ADMIN, admin: true },
      { name: 'rotating', key: ROTATE_OLD },
      { name: 'removed', key: REMOVED },
      { name: 'limited', key: LIMITED, limits: { maxConcurrent: 250 } },
    ],
  };
}

/** The "file" after: a key rotated, one removed, a route added, a limit changed. */
function after(): Record<string, unknown> {
  const b = before();
  return {
    ...b,
    models: [
      { match: 'sim-*', upstream: 'sim' },
      { match: 'fresh-*', deployments: [{ upstream: 'sim', model: 'sim-fresh' }] },
    ],
    keys: [
      { name: 'ops', key: ADMIN, admin: true },
      { name: 'rotating', key: ROTATE_NEW },
      { name: 'limited', key: LIMITED, limits: { maxConcurrent: 202 } },
    ],
  };
}

const streamBody = { model: 'sim-a', stream: true, messages: [{ role: 'user', content: 'hi' }] };

function openStream(proxy: TestProxy, key: string): Promise<SseReader> {
  return openSse(`${proxy.url}/v1/chat/completions`, { body: streamBody, headers: { authorization: `Bearer ${key}` } });
}

/** A stream's frames with the per-request fields (id, created) taken out. */
const normalise = (frames: string[]): string[] => frames.map((f) => f.replace(/"id":"[^"]*"/, '"id":"x"').replace(/"created":\d+/, '"created":0'));

describe('live configuration reload', function () {
  this.timeout(60_000);
  let proxy: TestProxy;
  afterEach(async () => proxy?.close());

  it('under 200 open streams: every stream completes whole, new requests follow the new file at once', async () => {
    proxy = await startTestProxy({ config: before() });
    const reference = await openStream(proxy, ROTATE_OLD);
    await within(10_000, reference.ended, 'the reference stream');
    const expected = normalise(reference.frames);
    assert.ok(expected.length > 10 && expected.at(-1) === 'data: [DONE]');

    // 200 streams open on the old configuration, spread over the keys that change.
    const keys = [ROTATE_OLD, REMOVED, LIMITED];
    const streams = await Promise.all(Array.from({ length: 200 }, (_, i) => openStream(proxy, keys[i % 3]!)));
    for (const s of streams) assert.equal(s.status, 200);
    await Promise.all(streams.map((s) => s.frame(1, 10_000)));
    assert.ok(streams.every((s) => !s.frames.includes('data: [DONE]')), 'every stream is still open at the reload');

    const before0 = proxy.deps.config;
    const out = await proxy.reload(after());
    assert.equal(out.ok, true);
    assert.ok(out.ok && out.changed.includes('keys.rotating') && out.changed.includes('keys.removed') && out.changed.includes('models'));
    assert.notEqual(proxy.deps.config, before0);

    // At once: the removed and the rotated-out secret are refused, the new secret and route work.
    const sdk = (key: string) => new OpenAI({ baseURL: proxy.baseURL, apiKey: key, maxRetries: 0 });
    await assert.rejects(sdk(REMOVED).models.list(), { status: 401 });
    await assert.rejects(sdk(ROTATE_OLD).models.list(), { status: 401 });
    const fresh = await sdk(ROTATE_NEW).chat.completions.create({ model: 'fresh-1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fresh.model, 'sim-fresh');

    // The open streams, the removed key's included, finish as they began.
    const ends = await within(30_000, Promise.all(streams.map((s) => s.ended)), 'all 200 streams to end');
    assert.ok(ends.every((e) => !e.aborted));
    for (const s of streams) assert.deepEqual(normalise(s.frames), expected);
    assert.equal(proxy.app.inflight.size, 0);
  });

  it('a reload that adds token limits loads the tokenizer tables then, not in a later request', async () => {
    proxy = await startTestProxy({ config: before() });
    const preloads: Array<string | undefined> = [];
    const estimator = proxy.deps.estimator;
    const preload = estimator.preload.bind(estimator);
    estimator.preload = (model?: string) => {
      preloads.push(model);
      preload(model);
    };
    // The same file again: nothing expects estimates yet.
    assert.equal((await proxy.reload(before())).ok, true);
    assert.equal(preloads.length, 0);
    const limited = before();
    limited.keys = (limited.keys as Array<Record<string, unknown>>).map((k) => (k.name === 'limited' ? { ...k, limits: { tpm: 100_000 } } : k));
    assert.equal((await proxy.reload(limited)).ok, true);
    assert.equal(preloads.length, 1);
  });

  it('keeps what a key has used: a concurrency limit lowered while streams are open counts them', async () => {
    proxy = await startTestProxy({ config: before() });
    const held = await Promise.all(Array.from({ length: 3 }, () => openStream(proxy, LIMITED)));
    await Promise.all(held.map((s) => s.frame(1, 10_000)));
    const lower = before();
    (lower.keys as Array<Record<string, unknown>>)[3] = { name: 'limited', key: LIMITED, limits: { maxConcurrent: 3 } };
    assert.equal((await proxy.reload(lower)).ok, true);
    // Three slots are in use on the new limit of 3: the next is refused, not served from zero.
    const refused = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: streamBody, headers: { authorization: `Bearer ${LIMITED}` } });
    assert.equal(refused.status, 429, refused.body);
    await Promise.all(held.map((s) => s.ended));
    const ok = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { ...streamBody, stream: false }, headers: { authorization: `Bearer ${LIMITED}` } });
    assert.equal(ok.status, 200);
  });

  it('an invalid file changes nothing; the endpoint answers 400 listing every problem; counted', async () => {
    proxy = await startTestProxy({ config: before() });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const digest = (await rawRequest(`${proxy.url}/readyz`)).json<{ config: string }>().config;
    const config = proxy.deps.config;
    const bad = { ...after(), models: [{ match: 'x-*', upstream: 'nowhere' }], server: { port: -1 } };
    await proxy.reload(bad).then((o) => assert.equal(o.ok, false));
    const res = await rawRequest(`${proxy.url}/admin/config/reload`, { method: 'POST', headers: admin });
    assert.equal(res.status, 400);
    const err = res.json<{ error: { code: string; message: string } }>().error;
    assert.equal(err.code, 'invalid_config');
    assert.match(err.message, /2 problems/);
    assert.match(err.message, /server\.port/);
    assert.match(err.message, /nowhere/);
    assert.equal(proxy.deps.config, config, 'the running configuration is untouched');
    assert.equal((await rawRequest(`${proxy.url}/readyz`)).json<{ config: string }>().config, digest);
    // Still serving on the old keys.
    assert.equal((await rawRequest(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${REMOVED}` } })).status, 200);
    assert.equal(await metricValue(proxy.deps.registry, 'llm_proxy_config_reloads_total', { result: 'error' }), 2);
    assert.ok(proxy.logs.some((l) => l.includes('configuration reload refused') && l.includes('nowhere')), 'one error line lists the problems');
    // A non-admin key may not reload.
    const denied = await rawRequest(`${proxy.url}/admin/config/reload`, { method: 'POST', headers: { authorization: `Bearer ${REMOVED}` } });
    assert.equal(denied.status, 403);
  });

  it('the endpoint reloads, names restart-only changes, and the digest moves in /readyz and the gauge', async () => {
    proxy = await startTestProxy({ config: before() });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const first = (await rawRequest(`${proxy.url}/readyz`)).json<{ config: string }>().config;
    assert.equal(await metricValue(proxy.deps.registry, 'llm_proxy_config_info', { digest: first }), 1);
    await proxy.reload({ ...after(), server: { port: 1 } }).then((o) => assert.equal(o.ok, true));
    // The same file again through the endpoint: nothing more to change.
    const res = await rawRequest(`${proxy.url}/admin/config/reload`, { method: 'POST', headers: admin });
    assert.equal(res.status, 200);
    const body = res.json<{ status: string; digest: string; changed: string[]; restartRequired: string[] }>();
    assert.equal(body.status, 'unchanged');
    assert.deepEqual(body.restartRequired, ['server.port'], 'the port change waits for a restart');
    assert.notEqual(body.digest, first);
    assert.equal((await rawRequest(`${proxy.url}/readyz`)).json<{ config: string }>().config, body.digest);
    assert.equal(await metricValue(proxy.deps.registry, 'llm_proxy_config_info', { digest: body.digest }), 1);
    const text = await proxy.deps.registry.metrics();
    assert.ok(!text.includes(`digest="${first}"`), 'the old digest series is gone');
    assert.equal(proxy.deps.config.server.port, 0, 'the running port is kept');
    assert.ok(proxy.logs.some((l) => l.includes('needs a restart to apply: server.port')));
  });

  it('50 reloads in a row under load leak nothing: slots, streams, connections, timers', async () => {
    proxy = await startTestProxy({ config: before() });
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const timersBefore = timers();
    let stop = false;
    let served = 0;
    const loads = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const s = await openStream(proxy, LIMITED);
        await s.ended;
        served++;
      }
    });
    for (let i = 0; i < 50; i++) {
      const out = await proxy.reload(i % 2 === 0 ? after() : before());
      assert.equal(out.ok, true);
    }
    stop = true;
    await within(20_000, Promise.all(loads), 'the load loops to stop');
    assert.ok(served > 0);
    assert.equal(proxy.app.inflight.size, 0, 'no stream left open');
    // The callers' sockets close as their streams end (Connection: close from the test client).
    const connections = (): Promise<number> => new Promise((resolve, reject) => proxy.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    await waitUntil(async () => (await connections()) === 0, 'every connection to close');
    // Every slot came back: the whole concurrency limit is free again.
    const all = await Promise.all(Array.from({ length: 202 }, () => openStream(proxy, LIMITED)));
    assert.ok(all.every((s) => s.status === 200), 'all 202 slots are free');
    await Promise.all(all.map((s) => s.ended));
    assert.ok(timers() - timersBefore <= 5, `timers grew by ${timers() - timersBefore}`);
    assert.equal(await metricValue(proxy.deps.registry, 'llm_proxy_config_reloads_total', { result: 'success' }), 50);
  });
});
