/**
 * Chat completions skip Koa (src/http/chat-lane.ts, issue 6) unless extra Koa middleware must see
 * them. Both paths run the same handler and the same renderer: the same requests through a proxy
 * on the lane and one forced through Koa give the same statuses, bodies, headers and records.
 */
import assert from 'node:assert/strict';
import type Koa from 'koa';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import type { ProxyState } from '../../src/http/request-context.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { rawRequest, type RawResponse } from '../helpers/upstream.js';

const KEY = 'sk-lane-test-key-0123456789';
const config = { keys: [{ name: 'app', key: KEY, models: ['sim-*'], limits: { rpm: 3 } }] };

describe('chat completions with and without Koa (integration)', () => {
  let lane: TestProxy;
  let koa: TestProxy;
  let koaSaw = 0;

  before(async () => {
    lane = await startTestProxy({ config });
    // Any extra Koa middleware puts chat completions back on Koa, where it runs for them.
    const seen: Koa.Middleware<ProxyState> = async (ctx, next) => {
      if (ctx.path === '/v1/chat/completions') koaSaw++;
      await next();
    };
    koa = await startTestProxy({ config, ext: { middleware: [seen] } });
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
      if (j.error) j.error.message = j.error.message.replace(/in [\d.]+m?s\b/, 'in …');
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
    };
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
    const pick = (p: TestProxy): unknown[] =>
      p.records().filter((r) => r.msg === 'request').map((r) => [r.status, r.endReason, r.key, r.route, r.model, r.stream]);
    assert.deepEqual(pick(lane), pick(koa));
    assert.equal(pick(lane).length, cases.length);
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
});
