// Bad input (issue 2 "Bad input, each with a test and the server still serving the next
// request"): every refusal has OpenAI's status and shape {"error":{message,type,param,code}},
// from the one renderer, and the same keep-alive connection then serves a normal request.
import assert from 'node:assert/strict';
import http from 'node:http';
import nock from 'nock';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { rawRequest, type RawRequestOptions, type RawResponse } from '../helpers/upstream.js';

const MAX_BODY = 1024;
const messages = [{ role: 'user', content: 'hi' }];

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

describe('bad input', () => {
  let proxy: TestProxy;
  let agent: http.Agent;

  before(async () => {
    if (nock.isActive()) nock.restore();
    proxy = await startTestProxy({ config: { server: { maxBodyBytes: MAX_BODY } } });
  });
  beforeEach(() => {
    // One keep-alive connection per test: the refusal and the next request share it when the
    // proxy keeps it open.
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  });
  afterEach(() => agent.destroy());
  after(() => proxy.close());

  function post(path: string, opts: RawRequestOptions): Promise<RawResponse> {
    return rawRequest(`${proxy.url}${path}`, { method: 'POST', agent, ...opts });
  }

  /** Status, JSON content type, the four OpenAI fields, a request id; returns the error. */
  function assertRefused(res: RawResponse, status: number, expect: Partial<ErrorBody['error']> = {}): ErrorBody['error'] {
    assert.equal(res.status, status, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.ok(res.headers['x-request-id'], 'x-request-id on errors too');
    const body = res.json<ErrorBody>();
    assert.deepEqual(Object.keys(body), ['error']);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(typeof body.error.message, 'string');
    assert.ok(body.error.message.length > 0);
    for (const [k, v] of Object.entries(expect)) assert.equal(body.error[k as keyof ErrorBody['error']], v, `error.${k}`);
    return body.error;
  }

  /** The proxy answers a good request next, on the same agent, and through the SDK. */
  async function stillServes(): Promise<void> {
    const res = await post('/v1/chat/completions', { body: { model: 'sim-fast', messages } });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json<{ choices: Array<{ message: { content: string } }> }>().choices[0]!.message.content, simText(8));
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'sim-fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0]?.message.content, simText(8));
  }

  describe('POST /v1/chat/completions', () => {
    it('invalid JSON → 400 invalid_request_error', async () => {
      const res = await post('/v1/chat/completions', { body: '{"model": "sim-1", "messages": [', headers: { 'content-type': 'application/json' } });
      assertRefused(res, 400, { type: 'invalid_request_error', code: 'invalid_json' });
      await stillServes();
    });

    it('an empty body → 400', async () => {
      const res = await post('/v1/chat/completions', { body: '', headers: { 'content-type': 'application/json' } });
      assertRefused(res, 400, { type: 'invalid_request_error' });
      await stillServes();
    });

    for (const [what, text] of [
      ['an array', '[{"model":"sim-1"}]'],
      ['a string', '"sim-1"'],
      ['null', 'null'],
      ['a number', '42'],
    ] as const) {
      it(`a body that is ${what}, not an object → 400`, async () => {
        const res = await post('/v1/chat/completions', { body: text, headers: { 'content-type': 'application/json' } });
        const e = assertRefused(res, 400, { type: 'invalid_request_error' });
        assert.match(e.message, /object/);
        await stillServes();
      });
    }

    it('missing model → 400 with param "model"', async () => {
      const res = await post('/v1/chat/completions', { body: { messages } });
      assertRefused(res, 400, { type: 'invalid_request_error', param: 'model', code: 'missing_required_parameter' });
      await stillServes();
    });

    it('a model that is not a string → 400 with param "model"', async () => {
      const res = await post('/v1/chat/completions', { body: { model: 7, messages } });
      assertRefused(res, 400, { type: 'invalid_request_error', param: 'model' });
      await stillServes();
    });

    it('missing messages → 400 with param "messages"', async () => {
      const res = await post('/v1/chat/completions', { body: { model: 'sim-1' } });
      assertRefused(res, 400, { type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' });
      await stillServes();
    });

    it('messages that are not an array → 400 with param "messages"', async () => {
      const res = await post('/v1/chat/completions', { body: { model: 'sim-1', messages: 'hi' } });
      assertRefused(res, 400, { type: 'invalid_request_error', param: 'messages' });
      await stillServes();
    });

    it('stream that is not a boolean → 400 with param "stream"', async () => {
      const res = await post('/v1/chat/completions', { body: { model: 'sim-1', messages, stream: 'yes' } });
      assertRefused(res, 400, { type: 'invalid_request_error', param: 'stream' });
      await stillServes();
    });

    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      it(`content type ${type} → 415`, async () => {
        const res = await post('/v1/chat/completions', { body: JSON.stringify({ model: 'sim-1', messages }), headers: { 'content-type': type } });
        const e = assertRefused(res, 415, { type: 'invalid_request_error' });
        assert.match(e.message, /application\/json/);
        await stillServes();
      });
    }

    it('a body over server.maxBodyBytes (Content-Length given) → 413', async () => {
      const big = JSON.stringify({ model: 'sim-1', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY * 2) }] });
      const res = await post('/v1/chat/completions', { body: big, headers: { 'content-type': 'application/json' } });
      assertRefused(res, 413, { type: 'invalid_request_error' });
      await stillServes();
    });

    it('a chunked body that grows past server.maxBodyBytes → 413', async () => {
      const res = await new Promise<RawResponse>((resolve, reject) => {
        const req = http.request(`${proxy.url}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
        req.on('error', reject);
        req.on('response', (r) => {
          const parts: Buffer[] = [];
          r.on('data', (c: Buffer) => parts.push(c));
          r.on('end', () => {
            const body = Buffer.concat(parts).toString('utf8');
            resolve({ status: r.statusCode ?? 0, headers: r.headers, body, json: <T>() => JSON.parse(body) as T });
          });
        });
        req.write('{"model":"sim-1","messages":[{"role":"user","content":"');
        for (let i = 0; i < 4; i++) req.write('y'.repeat(MAX_BODY / 2));
        req.end('"}]}');
      });
      assertRefused(res, 413, { type: 'invalid_request_error' });
      await stillServes();
    });

    it('a body of exactly server.maxBodyBytes is accepted', async () => {
      const base = JSON.stringify({ model: 'sim-fast', messages: [{ role: 'user', content: '' }] });
      const exact = JSON.stringify({ model: 'sim-fast', messages: [{ role: 'user', content: 'z'.repeat(MAX_BODY - base.length) }] });
      assert.equal(Buffer.byteLength(exact), MAX_BODY);
      const res = await post('/v1/chat/completions', { body: exact, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200, res.body);
    });

    it('an unknown model → 404 model_not_found (the SDK raises NotFoundError)', async () => {
      const res = await post('/v1/chat/completions', { body: { model: 'no-such-model', messages } });
      const e = assertRefused(res, 404, { type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
      assert.match(e.message, /no-such-model/);
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const err = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }], stream: true }).catch((x: unknown) => x);
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${String(err)}`);
      assert.equal(err.code, 'model_not_found');
      await stillServes();
    });
  });

  describe('other endpoints', () => {
    it('an unknown path → 404 in the OpenAI shape', async () => {
      const res = await rawRequest(`${proxy.url}/nope`, { agent });
      const e = assertRefused(res, 404, { type: 'invalid_request_error' });
      assert.match(e.message, /\/nope/);
      const res2 = await post('/not/v1/chat/completions', { body: { model: 'sim-1', messages } });
      assertRefused(res2, 404, { type: 'invalid_request_error' });
      await stillServes();
    });

    it('an unknown /v1 path for a known model → 404 in the OpenAI shape (from its upstream)', async () => {
      const res = await post('/v1/no/such/endpoint', { body: { model: 'sim-1' } });
      assertRefused(res, 404);
      await stillServes();
    });

    it('a pass-through body over server.maxBodyBytes → 413', async () => {
      const res = await post('/v1/embeddings', { body: { model: 'sim-1', input: 'e'.repeat(MAX_BODY * 2) } });
      assertRefused(res, 413, { type: 'invalid_request_error' });
      await stillServes();
    });

    it('pass-through invalid JSON → 400', async () => {
      const res = await post('/v1/embeddings', { body: '{"model":', headers: { 'content-type': 'application/json' } });
      assertRefused(res, 400, { type: 'invalid_request_error' });
      await stillServes();
    });
  });
});
