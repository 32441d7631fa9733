/**
 * Security review, authentication on the matched route (src/http/route-table.ts):
 *
 * - every route the app registers, called without credentials, answers 401 unless it is one of
 *   the routes named public — walked from the app's own table, so a route added later is covered
 *   without anyone remembering to add it here;
 * - path spellings (case, trailing slash, duplicate slashes, percent-encoding, dot segments)
 *   never reach a handler unauthenticated and never reach the upstream;
 * - a known path with another method is 405 with `Allow`;
 * - metric route labels come from route templates only;
 * - failed authentications are throttled per client address (429 `too_many_auth_failures`).
 *
 * Before this change `POST /V1/chat/completions` with no key was served (200) on the proxy's own
 * upstream key, past every limit.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OpenAI from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { rawRequest, type RawResponse } from '../helpers/upstream.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { requestTarget } from '../helpers/raw-target.js';

const APP = 'routes-app-key-0001';
const ADMIN = 'routes-admin-key-0001';
const METRICS_TOKEN = 'routes-metrics-token-0001';

/** Routes anyone may call, by method and template: nothing else may be public. */
const PUBLIC = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /dashboard',
  'GET /dashboard/',
  'GET /dashboard/app.css',
  'GET /dashboard/app.js',
  'GET /dashboard/connection.js',
  'GET /dashboard/dispatch.js',
  'GET /dashboard/dom.js',
  'GET /dashboard/feed-events.js',
  'GET /dashboard/format.js',
  'GET /dashboard/header.js',
  'GET /dashboard/panel-budgets.js',
  'GET /dashboard/panel-cards.js',
  'GET /dashboard/panel-chart.js',
  'GET /dashboard/panel-requests.js',
  'GET /dashboard/panel-totals.js',
  'GET /dashboard/reduce-requests.js',
  'GET /dashboard/reduce-throughput.js',
  'GET /dashboard/render.js',
  'GET /dashboard/state.js',
  'GET /examples/resume',
  'GET /examples/resume.css',
  'GET /examples/resume.js',
  'GET /admin/session',
  'DELETE /admin/session',
]);

/** A concrete path for a template (`:id` → a plain id). */
const concrete = (template: string): string => template.replace(/:[a-z_]+/g, 'abc123');

function config(upstream: RecordingUpstream, authFailures = { max: 100_000, windowMs: 60_000 }): Record<string, unknown> {
  return {
    server: { authFailures },
    upstreams: { rec: { type: 'openai', baseUrl: upstream.url, apiKey: 'sk-routes-upstream-secret' } },
    models: [
      { match: 'sim-*', upstream: 'sim' },
      { match: '*', upstream: 'rec' },
    ],
    keys: [
      { name: 'app', key: APP, limits: { maxConcurrent: 2 } },
      { name: 'ops', key: ADMIN, admin: true },
    ],
    metrics: { token: METRICS_TOKEN },
  };
}

const body = { model: 'up-model', messages: [{ role: 'user', content: 'hi' }] };

function send(proxy: TestProxy, method: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const withBody = method === 'POST';
  return rawRequest(`${proxy.url}${path}`, {
    method,
    headers: withBody ? { 'content-type': 'application/json', ...headers } : headers,
    body: withBody ? JSON.stringify(body) : undefined,
  });
}

describe('security: authentication on the matched route', () => {
  let upstream: RecordingUpstream;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startRecordingUpstream();
    proxy = await startTestProxy({ config: config(upstream) });
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('every registered route answers 401 without a key, except the routes named public', async () => {
    const entries = proxy.app.routes.list();
    assert.ok(entries.length >= 20, 'the table lists the app routes, pass-through endpoints included');
    const seenPublic = new Set<string>();
    for (const entry of entries) {
      for (const method of entry.methods) {
        const name = `${method} ${entry.path}`;
        if (entry.access === 'public') {
          assert.ok(PUBLIC.has(name), `${name} is public but not named as public`);
          seenPublic.add(name);
          continue;
        }
        assert.ok(!PUBLIC.has(name), `${name} is named public but is not`);
        for (const headers of [{}, { authorization: 'Bearer sk-not-a-key' }] as Array<Record<string, string>>) {
          const res = await send(proxy, method, concrete(entry.path), headers);
          assert.equal(res.status, 401, `${name} with ${JSON.stringify(headers)}: ${res.body}`);
          const err = res.json<{ error: { type: string; code: string; message: string } }>().error;
          assert.equal(typeof err.message, 'string', name);
        }
      }
    }
    assert.deepEqual([...seenPublic].sort(), [...PUBLIC].sort());
    assert.equal(upstream.requests.length, 0, 'nothing reached the upstream');
    // Still serving: the right key works.
    const ok = await send(proxy, 'POST', '/v1/chat/completions', { authorization: `Bearer ${APP}` });
    assert.equal(ok.status, 200);
    assert.equal(upstream.requests.length, 1);
  });

  it('no spelling of an API path is served without a key, and none reaches the upstream', async () => {
    const before = upstream.requests.length;
    const api = proxy.app.routes.list().filter((e) => e.access !== 'public');
    const spellings = fc.tuple(
      fc.constantFrom(...api),
      fc.constantFrom('upper-all', 'upper-one', 'trailing-slash', 'double-slash', 'percent-char', 'percent-slash', 'dot', 'dot-dot', 'backslash'),
      fc.nat(),
    );
    const tried: Array<[string, number]> = [];
    await fc.assert(
      fc.asyncProperty(spellings, async ([entry, how, n]) => {
        const path = concrete(entry.path);
        // Slashes after the first (the target must start with one).
        const slashes = [...path].flatMap((ch, i) => (ch === '/' && i > 0 ? [i] : []));
        const at = slashes[n % slashes.length]!;
        const letters = [...path].flatMap((ch, i) => (/[a-z]/.test(ch) ? [i] : []));
        const li = letters[n % letters.length]!;
        const spelled = {
          'upper-all': path.toUpperCase(),
          'upper-one': path.slice(0, li) + path[li]!.toUpperCase() + path.slice(li + 1),
          'trailing-slash': `${path}/`,
          'double-slash': `${path.slice(0, at)}/${path.slice(at)}`,
          'percent-char': `${path.slice(0, li)}%${path.charCodeAt(li).toString(16)}${path.slice(li + 1)}`,
          'percent-slash': `${path.slice(0, at)}%2F${path.slice(at + 1)}`,
          dot: `${path.slice(0, at)}/.${path.slice(at)}`,
          'dot-dot': `${path}/../${path.split('/').pop()!}`,
          backslash: `${path.slice(0, at)}\\${path.slice(at + 1)}`,
        }[how];
        const method = entry.methods[n % entry.methods.length]!;
        // Written byte for byte: an HTTP client would resolve the dot segments itself.
        const res = await requestTarget(proxy.port, method, spelled, method === 'POST' ? { 'content-type': 'application/json' } : {}, method === 'POST' ? JSON.stringify(body) : undefined);
        tried.push([`${method} ${spelled}`, res.status]);
        assert.ok([400, 401, 404, 405].includes(res.status), `${method} ${spelled} → ${res.status}: ${res.body}`);
        assert.ok(res.json<{ error: { message: string } }>().error.message.length < 600, 'a short error');
      }),
      { numRuns: 300, seed: 20261202 },
    );
    assert.equal(upstream.requests.length, before, 'no spelling reached the upstream');
    assert.ok(tried.some(([, s]) => s === 400) && tried.some(([, s]) => s === 404), 'both refusals seen');
  });

  it('parallel unauthenticated streams on an upper-case path are all refused (the old bypass)', async () => {
    const before = upstream.requests.length;
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        rawRequest(`${proxy.url}/V1/chat/completions`, { method: 'POST', body: { ...body, stream: true } }),
      ),
    );
    for (const r of results) assert.equal(r.status, 404, r.body);
    const slashed = await rawRequest(`${proxy.url}/v1/chat/completions/`, { method: 'POST', body: { ...body, stream: true } });
    assert.equal(slashed.status, 404);
    assert.equal(upstream.requests.length, before);
  });

  it('a known path with another method is 405 with Allow, in OpenAI\'s shape', async () => {
    const auth = { authorization: `Bearer ${APP}` };
    const get = await send(proxy, 'GET', '/v1/chat/completions', auth);
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.deepEqual(Object.keys(get.json<{ error: object }>().error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(get.json<{ error: { code: string } }>().error.code, 'method_not_allowed');
    const post = await send(proxy, 'POST', '/v1/models', auth);
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'HEAD, GET');
    const del = await send(proxy, 'DELETE', '/v1/files/abc123', auth);
    assert.equal(del.status, 200, 'DELETE is allowed on files/:id');
  });

  it('metric route labels are route templates (or "unmatched"), never raw paths', async () => {
    await send(proxy, 'GET', '/v1/files/file-XYZ-1', { authorization: `Bearer ${APP}` });
    await send(proxy, 'GET', '/v1/files/file-XYZ-2', { authorization: `Bearer ${APP}` });
    await send(proxy, 'POST', '/V1/Chat/Completions', { authorization: `Bearer ${APP}` });
    const text = (await rawRequest(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body;
    const routes = new Set([...text.matchAll(/^llm_proxy_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]!));
    const templates = new Set(proxy.app.routes.list().map((e) => e.path));
    for (const r of routes) assert.ok(r === 'unmatched' || templates.has(r), `route label ${r}`);
    assert.ok(routes.has('/v1/files/:id'), 'the files request is labelled with its template');
    assert.ok(routes.has('unmatched'), 'the upper-case probe is counted, as unmatched');
  });

  it('the SDK works as before with a key', async () => {
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: APP, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(r.choices[0]?.message.content);
    await assert.rejects(new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-wrong', maxRetries: 0 }).models.list(), { status: 401 });
  });
});

describe('security: failed authentications are throttled per address', () => {
  let upstream: RecordingUpstream;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startRecordingUpstream();
    proxy = await startTestProxy({ config: config(upstream, { max: 5, windowMs: 60_000 }) });
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('past the limit an address gets 429 too_many_auth_failures, even with a good key; counted in metrics', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await send(proxy, 'POST', '/v1/chat/completions', { authorization: `Bearer sk-guess-${i}` });
      assert.equal(res.status, 401);
    }
    const metricsFail = await rawRequest(`${proxy.url}/metrics`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(metricsFail.status, 429, 'the metrics token is throttled too');
    for (const [method, path] of [['POST', '/v1/chat/completions'], ['GET', '/v1/models'], ['POST', '/admin/session']] as const) {
      const res = await send(proxy, method, path, { authorization: `Bearer ${method === 'POST' && path.startsWith('/admin') ? ADMIN : APP}` });
      assert.equal(res.status, 429, `${method} ${path}`);
      assert.equal(res.json<{ error: { code: string } }>().error.code, 'too_many_auth_failures');
      assert.ok(Number(res.headers['retry-after']) >= 1);
    }
    // Public routes still answer.
    assert.equal((await rawRequest(`${proxy.url}/healthz`)).status, 200);
    assert.equal(upstream.requests.length, 0);
    const text = proxy.deps.registry;
    const metrics = await text.metrics();
    assert.match(metrics, /^llm_proxy_auth_failures_total 5$/m);
    assert.match(metrics, /^llm_proxy_refused_total\{reason="auth_failures"\} [1-9]/m);
  });
});

describe('security: readiness details', () => {
  let proxy: TestProxy;
  after(async () => proxy?.close());

  it('the bare status is public; checks and upstream names need an admin key', async () => {
    const upstream = await startRecordingUpstream();
    try {
      proxy = await startTestProxy({ config: config(upstream) });
      const anon = await rawRequest(`${proxy.url}/readyz`);
      assert.equal(anon.status, 200);
      assert.deepEqual(Object.keys(anon.json()).sort(), ['config', 'status'], 'status and the config digest only');
      assert.equal(anon.json().status, 'ready');
      const app = await rawRequest(`${proxy.url}/readyz`, { headers: { authorization: `Bearer ${APP}` } });
      assert.equal(app.json().checks, undefined, 'an API key is not enough');
      const admin = await rawRequest(`${proxy.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const detail = admin.json<{ status: string; checks: Array<{ name: string }> }>();
      assert.equal(detail.status, 'ready');
      assert.ok(Array.isArray(detail.checks) && detail.checks.length > 0);
      await proxy.close();
      proxy = await startTestProxy({ config: { ...config(upstream), server: { readyzDetails: 'public' } } });
      assert.ok(Array.isArray((await rawRequest(`${proxy.url}/readyz`)).json<{ checks: unknown }>().checks), 'readyzDetails: public');
    } finally {
      await upstream.close();
    }
  });
});
