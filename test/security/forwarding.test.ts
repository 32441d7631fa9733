/**
 * Security review, "callers choose the account; upstream texts reach callers unscrubbed":
 *
 * 1. Request headers are an allowlist (src/upstream/request-headers.ts): a caller's
 *    `OpenAI-Organization` / `OpenAI-Project` / `X-Goog-User-Project` never reach the upstream,
 *    nor do unknown headers; allowlisted ones do; the upstream's configured `headers` are what it
 *    gets, and `forwardHeaders` adds names but never the account-selecting ones.
 * 2. Upstream errors (src/relay/upstream-response.ts): a 401/403 becomes 502
 *    `upstream_authentication_failed` without the upstream's text (JSON, stream before and after
 *    the head is out, pass-through) and still fails over; a plain-text 500 is scrubbed of every
 *    configured secret and cut short.
 * 3. Response headers naming the proxy's account are not relayed; useful ones are, scrubbed.
 *
 * The upstream is a real node:http server on 127.0.0.1:0 that records each request; callers are
 * the OpenAI SDK and raw node:http.
 */
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  dataPayloads,
  openSse,
  rawRequest,
  startUpstream,
  streamTokens,
  within,
  type RawResponse,
  type TestUpstream,
  type UpstreamCall,
} from '../helpers/upstream.js';

const UPSTREAM_KEY = 'sk-upstream-SECRET-5b1e07c9d2';
const OTHER_UPSTREAM_KEY = 'sk-upstream-OTHER-88a3f6e1c4';
/** Not credential-shaped: only the config tells the proxy it is a secret. */
const CLIENT_KEY = 'ck-live-4f7a9c2e1b3d6a';
const GATEWAY_TOKEN = 'gw-token-77d1c0ffee42';
const messages = [{ role: 'user' as const, content: 'Say something.' }];

/** The caller's account-selecting and custom headers, next to allowlisted ones. */
const CALLER_HEADERS = {
  authorization: `Bearer ${CLIENT_KEY}`,
  'OpenAI-Organization': 'org-VICTIM',
  'OpenAI-Project': 'proj_VICTIM',
  'X-Goog-User-Project': 'victim-billing-project',
  'X-Custom-Thing': 'custom-value',
  'User-Agent': 'OpenAI/JS 6.0.0',
  'OpenAI-Beta': 'assistants=v2',
  'X-Stainless-Retry-Count': '0',
};

const embedding = { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5] }], model: 'e', usage: { prompt_tokens: 1, total_tokens: 1 } };
const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'plain-1',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
};

/** An OpenAI-shaped 401 that quotes the proxy's upstream key, as OpenAI's own does. */
function refuseKey(call: UpstreamCall, status = 401): Promise<void> {
  const body = {
    error: {
      message: `Incorrect API key provided: Bearer ${UPSTREAM_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_api_key',
    },
  };
  call.head(status, { 'content-type': 'application/json', 'openai-organization': 'org-upstream-own', 'x-echo-auth': String(call.headers.authorization) });
  return call.end(JSON.stringify(body));
}

/** Nothing of the upstream's refusal, and no secret, is in what the caller got. */
function assertNothingLeaked(what: string, text: string): void {
  for (const s of [UPSTREAM_KEY, 'SECRET', CLIENT_KEY, GATEWAY_TOKEN, 'Incorrect API key', 'org-upstream-own']) {
    assert.ok(!text.includes(s), `${what} must not contain "${s}": ${text}`);
  }
}

const wholeResponse = (r: RawResponse): string => JSON.stringify(r.headers) + r.body;

describe('security: forwarded headers and scrubbed upstream answers', () => {
  let up: TestUpstream;
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    up = await startUpstream();
    proxy = await startTestProxy({
      config: {
        // Every scripted failure below is answered by one upstream: keep its circuit closed.
        resilience: { breaker: { failureThreshold: 1000 } },
        keys: [{ name: 'app', key: CLIENT_KEY }],
        metrics: { token: 'metrics-token-0b7d3e' },
        upstreams: {
          plain: { type: 'openai', baseUrl: up.baseUrl, apiKey: UPSTREAM_KEY },
          own: {
            type: 'openai',
            baseUrl: up.baseUrl,
            apiKey: UPSTREAM_KEY,
            headers: { 'OpenAI-Organization': 'org-OWN', 'X-Gateway-Token': GATEWAY_TOKEN },
            forwardHeaders: ['x-custom-thing', 'openai-organization', 'openai-project', 'x-goog-user-project'],
          },
          a: { type: 'openai', baseUrl: up.baseUrl, apiKey: OTHER_UPSTREAM_KEY },
          b: { type: 'openai', baseUrl: up.baseUrl, apiKey: UPSTREAM_KEY },
        },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'plain-*', upstream: 'plain' },
          { match: 'own-*', upstream: 'own' },
          { match: 'fo-*', deployments: [{ upstream: 'a', priority: 0 }, { upstream: 'b', priority: 1 }] },
        ],
      },
    });
    client = new OpenAI({ baseURL: proxy.baseURL, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
  });

  /** A working request after a failure: the proxy still serves. */
  async function stillServes(): Promise<void> {
    const r = await client.chat.completions.create({ model: 'sim-fast', messages });
    assert.equal(r.choices[0]?.message.content, simText(8));
  }

  // -------------------------------------------------------------------------------------------
  describe('request headers', () => {
    /** Send the caller headers on a streamed chat and on /v1/embeddings; the upstream's view of each. */
    async function headersSeen(model: string): Promise<Array<{ path: string; headers: UpstreamCall['headers'] }>> {
      const seen: Array<{ path: string; headers: UpstreamCall['headers'] }> = [];
      const sse = openSse(`${proxy.url}/v1/chat/completions`, { headers: CALLER_HEADERS, body: { model, messages, stream: true } });
      const chatCall = await up.next();
      seen.push({ path: chatCall.url, headers: chatCall.headers });
      await streamTokens(chatCall, ['ok']);
      const s = await sse;
      await within(5000, s.ended, 'the end of the stream');
      assert.equal(s.status, 200);
      assert.equal(dataPayloads(s.frames).at(-1), '[DONE]');

      const emb = rawRequest(`${proxy.url}/v1/embeddings`, { headers: CALLER_HEADERS, body: { model, input: 'x' } });
      const embCall = await up.next();
      seen.push({ path: embCall.url, headers: embCall.headers });
      embCall.head(200, { 'content-type': 'application/json' });
      await embCall.end(JSON.stringify(embedding));
      assert.equal((await emb).status, 200);
      return seen;
    }

    it('account-selecting and unknown caller headers are not forwarded; allowlisted ones are (chat stream, /v1/embeddings)', async () => {
      const seen = await headersSeen('plain-1');
      assert.deepEqual(seen.map((s) => s.path), ['/v1/chat/completions', '/v1/embeddings']);
      for (const { path, headers: h } of seen) {
        for (const name of ['openai-organization', 'openai-project', 'x-goog-user-project', 'x-custom-thing']) {
          assert.equal(h[name], undefined, `${path}: ${name} must not reach the upstream`);
        }
        assert.equal(h['user-agent'], 'OpenAI/JS 6.0.0', path);
        assert.equal(h['openai-beta'], 'assistants=v2', path);
        assert.equal(h['x-stainless-retry-count'], '0', path);
        assert.equal(h.authorization, `Bearer ${UPSTREAM_KEY}`, path);
      }
    });

    it("the upstream's configured headers are what it gets; forwardHeaders adds names, never account-selecting ones", async () => {
      const seen = await headersSeen('own-1');
      for (const { path, headers: h } of seen) {
        assert.equal(h['openai-organization'], 'org-OWN', `${path}: exactly the configured organisation`);
        assert.equal(h['openai-project'], undefined, path);
        assert.equal(h['x-goog-user-project'], undefined, path);
        assert.equal(h['x-gateway-token'], GATEWAY_TOKEN, path);
        assert.equal(h['x-custom-thing'], 'custom-value', `${path}: listed in forwardHeaders`);
        assert.equal(h['openai-beta'], 'assistants=v2', path);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('an upstream refusing the proxy\'s credentials (401/403)', () => {
    it('stream: false → 502 upstream_authentication_failed, the upstream key nowhere in body or headers', async () => {
      const res = rawRequest(`${proxy.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: { model: 'plain-1', messages } });
      await refuseKey(await up.next());
      const r = await res;
      assert.equal(r.status, 502);
      const { error } = r.json<{ error: { type: string; code: string; message: string } }>();
      assert.equal(error.code, 'upstream_authentication_failed');
      assert.equal(error.type, 'upstream_error');
      assert.match(error.message, /Upstream "plain" refused the proxy's credentials/);
      assertNothingLeaked('the response', wholeResponse(r));
      await stillServes();
    });

    it('stream: true → the OpenAI SDK raises a 502 upstream_authentication_failed without the secret', async () => {
      const pending = client.chat.completions.create({ model: 'plain-1', messages, stream: true });
      await refuseKey(await up.next(), 403);
      const err = await pending.then(
        () => assert.fail('the SDK must raise'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 502);
      assert.equal(err.code, 'upstream_authentication_failed');
      assertNothingLeaked('the SDK error', `${err.message} ${JSON.stringify(err.error)} ${JSON.stringify(Object.fromEntries(err.headers ?? new Headers()))}`);
      await stillServes();
    });

    it('pass-through (/v1/embeddings) → 502 upstream_authentication_failed without the secret', async () => {
      const res = rawRequest(`${proxy.url}/v1/embeddings`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: { model: 'plain-1', input: 'x' } });
      await refuseKey(await up.next());
      const r = await res;
      assert.equal(r.status, 502);
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'upstream_authentication_failed');
      assertNothingLeaked('the response', wholeResponse(r));
      await stillServes();
    });

    it('is retried on the next deployment: a 401 from one, the answer from the other', async () => {
      const stream = client.chat.completions.create({ model: 'fo-1', messages, stream: true });
      const first = await up.next();
      assert.equal(first.headers.authorization, `Bearer ${OTHER_UPSTREAM_KEY}`, 'deployment a first');
      await refuseKey(first);
      const second = await up.next();
      assert.equal(second.headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'then deployment b');
      const done = streamTokens(second, ['fail', 'over']);
      let text = '';
      for await (const chunk of await stream) text += chunk.choices[0]?.delta.content ?? '';
      await done;
      assert.equal(text, 'failover');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('a plain-text upstream error', () => {
    const noisy = (): string =>
      `Internal error. upstream key=${UPSTREAM_KEY} caller key=${CLIENT_KEY} gateway=${GATEWAY_TOKEN}\n` + 'stack frame\n'.repeat(200);

    for (const [what, path, body] of [
      ['chat, stream: false', '/v1/chat/completions', { model: 'own-1', messages }],
      ['pass-through', '/v1/embeddings', { model: 'own-1', input: 'x' }],
    ] as const) {
      it(`${what}: every configured secret scrubbed, the text cut short`, async () => {
        const res = rawRequest(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body });
        const call = await up.next();
        call.head(500, { 'content-type': 'text/plain' });
        await call.end(noisy());
        const r = await res;
        assert.equal(r.status, 500);
        const { error } = r.json<{ error: { message: string; code: string } }>();
        assert.equal(error.code, 'upstream_500');
        assert.match(error.message, /^Upstream "own" answered 500: Internal error\. upstream key=\[redacted\] caller key=\[redacted\] gateway=\[redacted\] stack frame/);
        assert.ok(error.message.length <= 260, `cut short: ${error.message.length} characters`);
        assertNothingLeaked('the response', wholeResponse(r));
        await stillServes();
      });
    }

    it('an OpenAI-shaped error has its string fields scrubbed, and only its four fields relayed', async () => {
      const res = rawRequest(`${proxy.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: { model: 'own-1', messages } });
      const call = await up.next();
      call.head(400, { 'content-type': 'application/json' });
      await call.end(
        JSON.stringify({
          error: { message: `bad request from ${CLIENT_KEY}`, type: 'invalid_request_error', param: GATEWAY_TOKEN, code: `c-${UPSTREAM_KEY}`, innererror: { key: UPSTREAM_KEY } },
        }),
      );
      const r = await res;
      assert.equal(r.status, 400);
      assert.deepEqual(r.json(), {
        error: { message: 'bad request from [redacted]', type: 'invalid_request_error', param: '[redacted]', code: 'c-[redacted]' },
      });
      await stillServes();
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('response headers', () => {
    const upstreamHead = {
      'openai-organization': 'org-upstream-own',
      'openai-project': 'proj_upstream_own',
      'anthropic-organization-id': 'aaaa-bbbb',
      'openai-processing-ms': '42',
      'openai-debug': `Bearer ${UPSTREAM_KEY}`,
    };

    function assertHeaders(what: string, get: (name: string) => string | null | undefined): void {
      assert.equal(get('openai-processing-ms'), '42', `${what}: openai-processing-ms is relayed`);
      for (const name of ['openai-organization', 'openai-project', 'anthropic-organization-id']) {
        assert.equal(get(name) ?? undefined, undefined, `${what}: ${name} must not be relayed`);
      }
      assert.equal(get('openai-debug'), 'Bearer [redacted]', `${what}: relayed values are scrubbed`);
    }

    it('chat JSON: account headers dropped, openai-processing-ms kept', async () => {
      const res = rawRequest(`${proxy.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: { model: 'plain-1', messages } });
      const call = await up.next();
      call.head(200, { 'content-type': 'application/json', ...upstreamHead });
      await call.end(JSON.stringify(completion));
      const r = await res;
      assert.equal(r.status, 200);
      assertHeaders('chat JSON', (n) => r.headers[n] as string | undefined);
    });

    it('chat stream (OpenAI SDK): account headers dropped, openai-processing-ms kept', async () => {
      const pending = client.chat.completions.create({ model: 'plain-1', messages, stream: true }).withResponse();
      const call = await up.next();
      call.sseHead(upstreamHead);
      const done = streamTokens(call, ['a', 'b']);
      const { data, response } = await pending;
      let text = '';
      for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
      await done;
      assert.equal(text, 'ab');
      assertHeaders('chat stream', (n) => response.headers.get(n));
    });

    it('pass-through: account headers dropped, openai-processing-ms kept', async () => {
      const res = rawRequest(`${proxy.url}/v1/embeddings`, { headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: { model: 'plain-1', input: 'x' } });
      const call = await up.next();
      call.head(200, { 'content-type': 'application/json', ...upstreamHead });
      await call.end(JSON.stringify(embedding));
      const r = await res;
      assert.equal(r.status, 200);
      assertHeaders('pass-through', (n) => r.headers[n] as string | undefined);
    });
  });
});

describe('security: an upstream 401 after the stream head is out', () => {
  let up: TestUpstream;
  let proxy: TestProxy;

  before(async () => {
    up = await startUpstream();
    // keepAliveMs: the proxy commits 200 after this silence, so the 401 arrives as an error frame.
    proxy = await startTestProxy({
      config: {
        server: { keepAliveMs: 50 },
        upstreams: { plain: { type: 'openai', baseUrl: up.baseUrl, apiKey: UPSTREAM_KEY } },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'plain-*', upstream: 'plain' },
        ],
      },
    });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
  });

  it('ends the stream with an upstream_authentication_failed error frame that quotes nothing of the upstream', async () => {
    const pending = openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'plain-1', messages, stream: true } });
    const call = await up.next();
    const sse = await pending; // the head: committed by the keep-alive, before the upstream answered
    assert.equal(sse.status, 200);
    await refuseKey(call);
    await within(5000, sse.ended, 'the end of the stream');
    const errors = dataPayloads(sse.frames).filter((p) => p.startsWith('{"error"'));
    assert.equal(errors.length, 1, sse.text());
    const { error } = JSON.parse(errors[0]!) as { error: { code: string; type: string } };
    assert.equal(error.code, 'upstream_authentication_failed');
    assert.equal(error.type, 'upstream_error');
    assertNothingLeaked('the stream', sse.text() + JSON.stringify(sse.headers));
    // Still serving.
    const r = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'sim-fast', messages } });
    assert.equal(r.status, 200);
  });
});
