// POST /v1/chat/completions with stream: false, and what every chat request sends to and
// takes from its upstream (issue 2): status fidelity before the first token (429 with
// Retry-After, 500 with a body that is not OpenAI's), upstream request headers, x-request-id.
// The upstream is scripted with nock, which intercepts the proxy's global fetch.
import assert from 'node:assert/strict';
import nock from 'nock';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import { assertScriptsUsed, interceptUpstream, releaseUpstream } from '../helpers/nock.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DONE, finishChunk, frame, openSse, rawRequest, roleChunk, tokenChunk, within } from '../helpers/upstream.js';

const UPSTREAM = 'http://upstream.test';
const messages = [{ role: 'user' as const, content: 'Say something.' }];

const nockedConfig = {
  // One proxy serves every scripted 429 and 500 below: keep the circuit breaker (issue 7) from
  // opening on them, which would answer 503 before the upstream is asked.
  resilience: { breaker: { failureThreshold: 1000 } },
  upstreams: { openai: { type: 'openai', baseUrl: `${UPSTREAM}/v1`, apiKey: 'sk-upstream-secret' } },
  models: [
    { match: 'sim-*', upstream: 'sim' },
    { match: 'gpt-*', upstream: 'openai' },
  ],
};

const chatCompletion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-test',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
};

describe('POST /v1/chat/completions', () => {
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    interceptUpstream();
    proxy = await startTestProxy({ config: nockedConfig });
    client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller-key', maxRetries: 0 });
  });
  afterEach(assertScriptsUsed);
  after(async () => {
    await proxy.close();
    releaseUpstream();
  });

  /** A working request after a failure: the proxy still serves. */
  async function stillServes(): Promise<void> {
    const r = await client.chat.completions.create({ model: 'sim-fast', messages });
    assert.equal(r.choices[0]?.message.content, simText(8));
  }

  describe('stream: false', () => {
    it('the SDK gets a whole completion from the simulator', async () => {
      const r = await client.chat.completions.create({ model: 'sim-1', messages });
      assert.equal(r.object, 'chat.completion');
      assert.equal(r.choices[0]?.message.role, 'assistant');
      assert.equal(r.choices[0]?.message.content, simText(8));
      assert.equal(r.choices[0]?.finish_reason, 'stop');
      assert.equal(r.usage?.completion_tokens, 8);
    });

    it('returns the upstream status and JSON body unchanged, with x-request-id and server-timing', async () => {
      const bodyText = JSON.stringify(chatCompletion, null, 1); // odd spacing: must arrive as it left
      nock(UPSTREAM).post('/v1/chat/completions').reply(200, bodyText, { 'content-type': 'application/json', 'openai-processing-ms': '12' });
      const res = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'gpt-test', messages } });
      assert.equal(res.status, 200);
      assert.equal(res.body, bodyText);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['openai-processing-ms'], '12');
      assert.match(String(res.headers['x-request-id']), /^req_[0-9a-f]{32}$/);
      assert.match(String(res.headers['server-timing']), /upstream;dur=\d+(\.\d+)?/);
      assert.match(String(res.headers['server-timing']), /proxy;dur=\d+(\.\d+)?/);
    });
  });

  describe('when the upstream answers an error before the first token', () => {
    const rateLimitBody = {
      error: { message: 'Rate limit reached for gpt-test on requests per min. Limit: 3.', type: 'requests', param: null, code: 'rate_limit_exceeded' },
    };

    for (const stream of [false, true]) {
      describe(`stream: ${stream}`, () => {
        it('429 with an OpenAI body: the SDK raises RateLimitError with the same message, Retry-After kept', async () => {
          nock(UPSTREAM).post('/v1/chat/completions').reply(429, rateLimitBody, { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0' });
          const err = await client.chat.completions.create({ model: 'gpt-test', messages, stream }).then(
            () => assert.fail('expected a RateLimitError'),
            (e: unknown) => e,
          );
          assert.ok(err instanceof OpenAI.RateLimitError, `got ${String(err)}`);
          assert.equal(err.status, 429);
          assert.equal(err.code, 'rate_limit_exceeded');
          assert.equal(err.type, 'requests');
          assert.equal((err.error as { message?: string }).message, rateLimitBody.error.message);
          assert.equal(err.headers?.get('retry-after'), '7');
          await stillServes();
        });

        it('429: the raw response keeps the status, the body byte for byte and retry-after', async () => {
          nock(UPSTREAM).post('/v1/chat/completions').reply(429, rateLimitBody, { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0' });
          const res = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'gpt-test', messages, stream } });
          assert.equal(res.status, 429);
          assert.deepEqual(res.json(), rateLimitBody);
          assert.equal(res.headers['retry-after'], '7');
          assert.match(String(res.headers['content-type']), /^application\/json/);
          assert.ok(res.headers['x-request-id']);
          await stillServes();
        });

        it('500 with a body that is not JSON: wrapped into the OpenAI shape, status 500', async () => {
          nock(UPSTREAM).post('/v1/chat/completions').reply(500, '<html>upstream exploded</html>', { 'content-type': 'text/html' });
          const res = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'gpt-test', messages, stream } });
          assert.equal(res.status, 500);
          const body = res.json<{ error: Record<string, unknown> }>();
          assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
          assert.equal(typeof body.error.message, 'string');
          assert.match(String(body.error.message), /upstream exploded/);
          await stillServes();
        });

        it('500: the SDK raises InternalServerError', async () => {
          nock(UPSTREAM).post('/v1/chat/completions').reply(500, 'oops');
          const err = await client.chat.completions.create({ model: 'gpt-test', messages, stream }).then(
            () => assert.fail('expected an error'),
            (e: unknown) => e,
          );
          assert.ok(err instanceof OpenAI.InternalServerError, `got ${String(err)}`);
          assert.equal(err.status, 500);
        });
      });
    }
  });

  describe('upstream request headers', () => {
    /** Script one upstream answer and capture the headers it was sent with. */
    function capture(stream: boolean): Promise<Record<string, string | string[] | undefined>> {
      return new Promise((resolve) => {
        nock(UPSTREAM)
          .post('/v1/chat/completions')
          .reply(function () {
            resolve({ ...this.req.headers });
            return stream
              ? [200, frame(roleChunk()) + frame(tokenChunk('ok')) + frame(finishChunk()) + DONE, { 'content-type': 'text/event-stream' }]
              : [200, chatCompletion];
          });
      });
    }

    it("never forwards the caller's Authorization: the upstream gets its own key", async () => {
      const seen = capture(false);
      await client.chat.completions.create({ model: 'gpt-test', messages });
      const h = await within(2000, seen, 'the upstream request');
      assert.equal(h.authorization, 'Bearer sk-upstream-secret');
      assert.ok(!JSON.stringify(h).includes('sk-caller-key'), 'the caller key reaches no upstream header');
    });

    it('drops hop-by-hop headers and those named in Connection, keeps the allowlisted others', async () => {
      const seen = capture(true);
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, {
        body: { model: 'gpt-test', messages, stream: true },
        headers: {
          authorization: 'Bearer sk-caller-key',
          // idempotency-key is forwarded (test/security/forwarding.test.ts), but not once named hop-by-hop
          connection: 'keep-alive, x-hop-custom, idempotency-key',
          'x-hop-custom': 'drop me',
          'idempotency-key': 'drop me too',
          'keep-alive': 'timeout=5',
          'proxy-authorization': 'Basic c2VjcmV0',
          te: 'trailers',
          trailer: 'x-trailer',
          'x-api-key': 'sk-caller-key',
          cookie: 'session=1',
          'openai-beta': 'assistants=v2',
          'user-agent': 'OpenAI/JS 4.0.0',
        },
      });
      await within(5000, sse.ended, 'the end of the stream');
      const h = await seen;
      for (const name of ['x-hop-custom', 'idempotency-key', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'x-api-key', 'cookie', 'upgrade']) {
        assert.equal(h[name], undefined, `${name} must not reach the upstream`);
      }
      assert.ok(!String(h.connection ?? '').includes('x-hop-custom'));
      assert.equal(h['openai-beta'], 'assistants=v2');
      assert.equal(h['user-agent'], 'OpenAI/JS 4.0.0');
      assert.equal(h.authorization, 'Bearer sk-upstream-secret');
      assert.equal(h.accept, 'text/event-stream');
      assert.equal(sse.status, 200);
    });

    it("sends the caller's x-request-id upstream and returns it", async () => {
      const seen = capture(false);
      const res = await rawRequest(`${proxy.url}/v1/chat/completions`, {
        body: { model: 'gpt-test', messages },
        headers: { 'x-request-id': 'trace-abc.123' },
      });
      const h = await seen;
      assert.equal(res.status, 200);
      assert.equal(h['x-request-id'], 'trace-abc.123');
      assert.equal(res.headers['x-request-id'], 'trace-abc.123');
    });

    it('generates an x-request-id when the caller gives none, the same upstream and back', async () => {
      const seen = capture(true);
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'gpt-test', messages, stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      const h = await seen;
      const id = sse.headers['x-request-id'];
      assert.match(String(id), /^req_[0-9a-f]{32}$/);
      assert.equal(h['x-request-id'], id);
    });

    it('the SDK sees the request id on its response', async () => {
      capture(false);
      const { response } = await client.chat.completions.create({ model: 'gpt-test', messages }).withResponse();
      assert.match(String(response.headers.get('x-request-id')), /^req_[0-9a-f]{32}$/);
    });
  });
});
