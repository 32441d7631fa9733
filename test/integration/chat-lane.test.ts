/**
 * Chat completions skip Koa (src/http/chat-lane.ts) unless extra Koa middleware declares it must
 * see them (`chat: true`, src/app.ts `ExtraMiddleware`). Both paths run the same per-request
 * wrapper (src/http/request-scope.ts), the same handler and the same renderer: the same requests
 * through a proxy on the lane and one forced through Koa give the same statuses, bodies, headers
 * and records.
 */
import assert from 'node:assert/strict';
import type Koa from 'koa';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import type { ProxyState } from '../../src/http/request-context.js';
import { createApp, type ExtraMiddleware } from '../../src/app.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { rawRequest, type RawResponse } from '../helpers/upstream.js';
import { requestTarget } from '../helpers/raw-target.js';

const KEY = 'sk-lane-test-key-0123456789';
// Four failed authentications per address, then 429 (the throttle case counts on it).
const config = { server: { authFailures: { max: 4, windowMs: 60_000 } }, keys: [{ name: 'app', key: KEY, models: ['sim-*'], limits: { rpm: 3 } }] };

describe('chat completions with and without Koa (integration)', () => {
  let lane: TestProxy;
  let koa: TestProxy;
  let koaSaw = 0;

  before(async () => {
    lane = await startTestProxy({ config });
    // Extra Koa middleware that must see chat completions puts them back on Koa.
    const seen: Koa.Middleware<ProxyState> = async (ctx, next) => {
      if (ctx.path === '/v1/chat/completions') koaSaw++;
      await next();
    };
    koa = await startTestProxy({ config, ext: { middleware: [{ name: 'seen', middleware: seen, chat: true }] } });
  });
  after(async () => {
    await lane?.close();
    await koa?.close();
  });

  /** What must be the same either way: status, body (ids and times aside), the headers that matter. */
  function shape(r: RawResponse): Record<string, unknown> {
    let body: unknown = r.body;
    try {
      const j = JSON.parse(r.body) as Record<string, unknown> & { error?: { message: string } };
      delete j.id;
      delete j.created;
      // A 429 says how long to wait, to the millisecond.
      if (j.error) j.error.message = j.error.message.replace(/in [\d.]+ ?m?s\b/, 'in …');
      body = j;
    } catch {
      body = r.body.replace(/"(id|created)":("[^"]*"|\d+),/g, '');
    }
    return {
      status: r.status,
      body,
      type: r.headers['content-type'],
      requestId: r.headers['x-request-id'] === 'given-id' ? 'given-id' : typeof r.headers['x-request-id'],
      limit: r.headers['x-ratelimit-limit-requests'],
      retryAfter: r.headers['retry-after'] !== undefined,
      allow: r.headers.allow,
      connection: r.headers.connection,
    };
  }

  const pick = (p: TestProxy): unknown[] =>
    p
      .records()
      .filter((r) => r.msg === 'request')
      .map((r) => [r.status, r.endReason, r.key, r.route, r.model, r.stream, typeof r.error === 'string' ? r.error.replace(/in [\d.]+ ?m?s\b/, 'in …') : r.error]);

  /** Every request has ended its scope: none left counted as active. */
  async function noneActive(p: TestProxy): Promise<void> {
    for (let i = 0; i < 100 && p.deps.state.activeRequests !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(p.deps.state.activeRequests, 0);
  }

  it('answers the same requests the same way, errors included, and records them the same way', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const cases: Array<{ headers?: Record<string, string>; body?: unknown; raw?: string; path?: string }> = [
      { headers: auth, body: { model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] } },
      { headers: { ...auth, 'x-request-id': 'given-id' }, body: { model: 'sim-fast', stream: true, messages: [{ role: 'user', content: 'hi' }] } },
      { headers: auth, path: '/v1/chat/completions?api-version=1', body: { model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] } },
      { body: { model: 'sim-fast', messages: [] } }, // 401
      { headers: { authorization: 'Bearer sk-wrong' }, body: { model: 'sim-fast', messages: [] } }, // 401
      { headers: auth, raw: '{"model": "sim-fast", "messages": [' }, // 400 bad JSON
      { headers: auth, body: { model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] } }, // 403 model not allowed for the key
      { headers: auth, body: { messages: [] } }, // 400 missing model
      { headers: auth, body: { model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] } }, // 429 (rpm 3)
    ];
    for (const [i, c] of cases.entries()) {
      const send = (p: TestProxy): Promise<RawResponse> =>
        rawRequest(`${p.url}${c.path ?? '/v1/chat/completions'}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...c.headers },
          body: c.raw ?? JSON.stringify(c.body),
        });
      const [a, b] = [await send(lane), await send(koa)];
      assert.deepEqual(shape(a), shape(b), `case ${i}: ${JSON.stringify(c)}`);
    }
    // The key check belongs to the route (src/http/route-table.ts), so extra middleware sees
    // every request, the two 401s included.
    assert.equal(koaSaw, cases.length, 'every request of the second proxy went through Koa');
    assert.deepEqual(pick(lane), pick(koa));
    assert.equal(pick(lane).length, cases.length);
    await noneActive(lane);
    await noneActive(koa);
  });

  it('serves the SDK, and leaves other methods and routes to Koa', async () => {
    const client = new OpenAI({ baseURL: lane.baseURL, apiKey: KEY, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] }), { status: 429 });
    // GET is not the lane's: Koa answers it, 405 with the method the path takes.
    const get = await rawRequest(`${lane.url}/v1/chat/completions`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal(get.json<{ error: { code: string } }>().error.code, 'method_not_allowed');
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id.startsWith('sim-')));
    const fresh = await startTestProxy();
    try {
      const sdk = new OpenAI({ baseURL: fresh.baseURL, apiKey: 'unused', maxRetries: 0 });
      const r = await sdk.chat.completions.create({ model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0]?.message.content, simText(8));
    } finally {
      await fresh.close();
    }
  });

  it('the same for a 405, a bad target, a throttled address and a draining proxy', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const chat = JSON.stringify({ model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] });
    const json = { 'content-type': 'application/json' };
    const before = [pick(lane).length, pick(koa).length] as const;
    const sawBefore = koaSaw;
    const cases: Array<{ what: string; send: (p: TestProxy) => Promise<RawResponse | Awaited<ReturnType<typeof requestTarget>>> }> = [
      { what: '405', send: (p) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'GET', headers: auth }) },
      { what: '405 with x-request-id', send: (p) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'PUT', headers: { ...auth, 'x-request-id': 'given-id' } }) },
      { what: 'dot segment', send: (p) => requestTarget(p.port, 'POST', '/v1/chat/completions/../models', { ...auth, ...json }, chat) },
      { what: 'absolute form', send: (p) => requestTarget(p.port, 'POST', `${p.url}/v1/chat/completions`, { ...auth, ...json }, chat) },
      // Two more failed authentications (the first test made two): the address is at its limit.
      { what: '401 (3rd)', send: (p) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { ...json, authorization: 'Bearer sk-wrong' }, body: chat }) },
      { what: '401 (4th)', send: (p) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { ...json, authorization: 'Bearer sk-wrong' }, body: chat }) },
      { what: 'throttled address, good key', send: (p) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { ...json, ...auth }, body: chat }) },
      { what: 'throttled address, models', send: (p) => rawRequest(`${p.url}/v1/models`, { headers: auth }) },
    ];
    for (const c of cases) {
      const [a, b] = [await c.send(lane), await c.send(koa)];
      assert.deepEqual(shape(a as RawResponse), shape(b as RawResponse), c.what);
    }
    const statuses = (await Promise.all(cases.map((c) => c.send(lane)))).map((r) => r.status);
    assert.deepEqual(statuses.slice(0, 4), [405, 405, 400, 400]);
    assert.ok(statuses.slice(4).every((s) => s === 429), `throttled: ${statuses.join(' ')}`);

    // Draining comes first in the gate: 503 server_shutdown with Connection: close, throttled or not.
    lane.deps.state.draining = true;
    koa.deps.state.draining = true;
    try {
      for (const send of [
        (p: TestProxy) => rawRequest(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { ...json, ...auth }, body: chat }),
        (p: TestProxy) => rawRequest(`${p.url}/v1/chat/completions?stream=1`, { method: 'POST', headers: json, body: chat }),
      ]) {
        const [a, b] = [await send(lane), await send(koa)];
        assert.deepEqual(shape(a), shape(b), 'draining');
        assert.equal(a.status, 503);
        assert.equal(a.json<{ error: { code: string } }>().error.code, 'server_shutdown');
        assert.equal(a.headers.connection, 'close');
      }
    } finally {
      lane.deps.state.draining = false;
      koa.deps.state.draining = false;
    }
    // Records: the same, case by case (the lane's proxy got the cases twice; compare its first
    // pass and the draining pair). The absolute-form target gets none (not an API path).
    const laneNew = pick(lane).slice(before[0]);
    const koaNew = pick(koa).slice(before[1]);
    assert.equal(koaNew.length, cases.length - 1 + 2);
    assert.deepEqual([...laneNew.slice(0, koaNew.length - 2), ...laneNew.slice(-2)], koaNew);
    // Chat-path requests the Koa proxy got: the two 405s, two 401s, the throttled one, two draining.
    assert.equal(koaSaw - sawBefore, 7);
    await noneActive(lane);
    await noneActive(koa);
  });

  it('says in one log line when middleware takes chat completions off the lane', () => {
    const line = (p: TestProxy) => p.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('chat completions go through Koa'));
    assert.equal(line(lane).length, 0);
    const [said] = line(koa);
    assert.equal(line(koa).length, 1);
    assert.equal(said?.level, 30);
    assert.deepEqual(said?.middleware, ['seen']);
    assert.match(String(said?.msg), /because middleware seen must see them/);
  });

  it('keeps the lane with middleware declared chat: false, which sees every other request', async () => {
    const paths: string[] = [];
    const watch: ExtraMiddleware = {
      name: 'watch',
      chat: false,
      middleware: async (ctx, next) => {
        paths.push(`${ctx.method} ${ctx.path}`);
        await next();
      },
    };
    const p = await startTestProxy({ ext: { middleware: [watch] } });
    try {
      const r = await rawRequest(`${p.url}/v1/chat/completions`, { method: 'POST', body: { model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] } });
      assert.equal(r.status, 200);
      const m = await rawRequest(`${p.url}/v1/models`);
      assert.equal(m.status, 200);
      // GET on the chat path is Koa's (405), so the middleware sees that one.
      const g = await rawRequest(`${p.url}/v1/chat/completions`);
      assert.equal(g.status, 405);
      assert.deepEqual(paths, ['GET /v1/models', 'GET /v1/chat/completions']);
      assert.equal(p.records().filter((l) => String(l.msg).startsWith('chat completions go through Koa')).length, 0);
    } finally {
      await p.close();
    }
  });

  it('refuses middleware that does not say whether it must see chat completions', () => {
    const bare = (async (_ctx: unknown, next: () => Promise<void>) => next()) as unknown as ExtraMiddleware;
    assert.throws(() => createApp(lane.deps, { middleware: [bare] }), (err: Error) => err instanceof TypeError && /ext\.middleware\[0\] must be \{ name, middleware, chat \}/.test(err.message));
    const unnamed = { name: '', middleware: async () => undefined, chat: true } as ExtraMiddleware;
    assert.throws(() => createApp(lane.deps, { middleware: [unnamed] }), TypeError);
  });

});
