// Upstream failures (issue 2 "Failures, each with a test"): before the response head the caller
// gets a real status in OpenAI's shape (502 unreachable, 504 connect / first-byte timeout); after
// the stream started it gets a final `data: {"error":…}` frame so the SDK raises instead of
// returning a silently truncated answer. Every case then checks the proxy serves the next request.
import assert from 'node:assert/strict';
import nock from 'nock';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import { routeUpTo, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/services.js';
import {
  frame,
  nextRequestRecord,
  openSse,
  rawRequest,
  roleChunk,
  startBlackhole,
  startUpstream,
  streamTokens,
  tokenChunk,
  within,
  type SseReader,
  type TestUpstream,
  type UpstreamCall,
} from '../helpers/upstream.js';

const messages = [{ role: 'user' as const, content: 'Say something.' }];

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

function assertOpenAIError(body: unknown, code?: string): ErrorBody['error'] {
  const e = (body as ErrorBody).error;
  assert.ok(e && typeof e === 'object', `not an OpenAI error body: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.equal(typeof e.type, 'string');
  if (code !== undefined) assert.equal(e.code, code);
  return e;
}

/** The proxy still answers: a simulator request, and (when given) a normal upstream stream. */
async function stillServes(proxy: TestProxy, upstream?: TestUpstream): Promise<void> {
  const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'sim-fast', messages });
  assert.equal(r.choices[0]?.message.content, simText(8));
  if (upstream) {
    const served = upstream.next().then((call) => streamTokens(call, ['fine', ' again']));
    const stream = await client.chat.completions.create({ model: 'up-1', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    await served;
    assert.equal(text, 'fine again');
  }
}

describe('upstream failures', () => {
  let proxy: TestProxy | null = null;
  let upstream: TestUpstream | null = null;

  before(() => {
    if (nock.isActive()) nock.restore();
  });
  afterEach(async () => {
    await upstream?.close();
    await proxy?.close();
    proxy = null;
    upstream = null;
  });

  describe('before the response head', () => {
    it('an unreachable upstream (closed port) → 502 in the OpenAI shape', async () => {
      const port = await freePort();
      proxy = await startTestProxy({ config: routeUpTo(`http://127.0.0.1:${port}/v1`) });
      for (const stream of [false, true]) {
        const res = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream } });
        assert.equal(res.status, 502, `stream: ${stream}`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const e = assertOpenAIError(res.json(), 'upstream_unreachable');
        assert.match(e.message, /ECONNREFUSED/);
        assert.ok(res.headers['x-request-id']);
      }
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const err = await client.chat.completions.create({ model: 'up-1', messages }).catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.APIError && err.status === 502, `got ${String(err)}`);
      await stillServes(proxy);
    });

    for (const stream of [false, true]) {
      it(`no response headers within firstByteTimeoutMs → 504 (stream: ${stream})`, async () => {
        upstream = await startUpstream();
        proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { firstByteTimeoutMs: 200 }) });
        const started = performance.now();
        const pending = rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream } });
        const call = await upstream.next(); // and never answered
        const res = await within(5000, pending, 'the 504');
        const took = performance.now() - started;
        assert.equal(res.status, 504);
        assertOpenAIError(res.json(), 'upstream_timeout');
        assert.ok(took >= 190 && took < 3000, `answered after ${took} ms`);
        // The stalled upstream request was given up, not left open.
        await within(1000, call.socketClosed, 'the stalled upstream socket to close');
        await stillServes(proxy, upstream);
      });
    }

    it('a connect that never completes → 504 after connectTimeoutMs (real loopback listener with a full accept queue)', async () => {
      const hole = await startBlackhole();
      try {
        proxy = await startTestProxy({ config: routeUpTo(`http://127.0.0.1:${hole.port}/v1`, { connectTimeoutMs: 200, firstByteTimeoutMs: 15_000 }) });
        const started = performance.now();
        const res = await within(10_000, rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } }), 'the 504');
        assert.equal(res.status, 504);
        assertOpenAIError(res.json(), 'upstream_connect_timeout');
        // The transport's own connect timer (src/upstream/transport.ts), far below the first-byte timeout.
        assert.ok(performance.now() - started < 5000);
        await stillServes(proxy);
      } finally {
        await hole.close();
      }
    });

    it('an injected fetch rejecting with a connect timeout (UND_ERR_CONNECT_TIMEOUT) → 504', async () => {
      const connectTimeout = (): Promise<Response> => {
        const cause = Object.assign(new Error('Connect Timeout Error (attempted address: upstream.test:443, timeout: 10000ms)'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
        return Promise.reject(new TypeError('fetch failed', { cause }));
      };
      proxy = await startTestProxy({ config: routeUpTo('http://upstream.test/v1'), fetch: connectTimeout });
      for (const stream of [false, true]) {
        const res = await rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream } });
        assert.equal(res.status, 504);
        assertOpenAIError(res.json(), 'upstream_connect_timeout');
      }
      await stillServes(proxy);
    });

    it('keep-alive committed 200 and the upstream then sends no headers within firstByteTimeoutMs → a final error frame', async () => {
      upstream = await startUpstream();
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { keepAliveMs: 100, firstByteTimeoutMs: 350 }) });
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await upstream.next(); // never answered
      const end = await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.status, 200);
      assert.equal(end.aborted, false);
      assert.ok(sse.frames.filter((f) => f === ': keep-alive').length >= 2, JSON.stringify(sse.frames));
      const last = sse.frames.at(-1)!;
      assert.match(last, /^data: \{"error":/);
      assertOpenAIError(JSON.parse(last.slice('data: '.length)), 'upstream_timeout');
      await stillServes(proxy, upstream);
    });

    // idleTimeoutMs shorter than the upstream's time to headers: the relay's idle timer fires
    // while callUpstream is still waiting. The caller must get a timeout (504, or an error frame
    // once keep-alive committed 200), not a 500 "Internal proxy error" or a dropped connection.
    it('idleTimeoutMs passes while the upstream has not sent headers → 504 in the OpenAI shape', async () => {
      upstream = await startUpstream();
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { idleTimeoutMs: 300 }) });
      const pending = rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await upstream.next(); // never answered
      const res = await within(5000, pending, 'the answer');
      assert.equal(res.status, 504, res.body);
      const e = assertOpenAIError(res.json());
      assert.ok(e.code === 'upstream_idle_timeout' || e.code === 'upstream_timeout', `code ${e.code}`);
      await stillServes(proxy, upstream);
    });

    it('idleTimeoutMs passes after keep-alive committed 200 but before upstream headers → a final error frame, not a dropped connection', async () => {
      upstream = await startUpstream();
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { keepAliveMs: 100, idleTimeoutMs: 350 }) });
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await upstream.next(); // never answered
      const end = await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.status, 200);
      assert.equal(end.aborted, false, `the body was cut off: ${JSON.stringify(sse.text())}`);
      const last = sse.frames.at(-1) ?? '';
      assert.match(last, /^data: \{"error":/);
      const e = assertOpenAIError(JSON.parse(last.slice('data: '.length)));
      assert.ok(e.code === 'upstream_idle_timeout' || e.code === 'upstream_timeout', `code ${e.code}`);
      await stillServes(proxy, upstream);
    });

    it('an upstream that closes before its first event → 502, not an empty 200', async () => {
      upstream = await startUpstream();
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
      const pending = rawRequest(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      const call = await upstream.next();
      call.sseHead();
      await call.end();
      const res = await within(5000, pending, 'the answer');
      assert.equal(res.status, 502);
      assertOpenAIError(res.json());
      await stillServes(proxy, upstream);
    });
  });

  describe('after the stream started', () => {
    /** How the upstream breaks, after a role chunk and a first token. */
    const scenarios: Array<{ name: string; server?: Record<string, unknown>; code: string; reason: string; breakIt(call: UpstreamCall): Promise<void> | void }> = [
      { name: 'the upstream resets the socket', code: 'upstream_disconnected', reason: 'upstream_error', breakIt: (call) => call.reset() },
      { name: 'the upstream closes the stream without [DONE]', code: 'upstream_truncated', reason: 'upstream_truncated', breakIt: (call) => call.end() },
      { name: 'the upstream stays silent past idleTimeoutMs', server: { idleTimeoutMs: 300 }, code: 'upstream_idle_timeout', reason: 'idle_timeout', breakIt: () => undefined },
    ];

    async function startBroken(s: (typeof scenarios)[number]): Promise<{ call: Promise<UpstreamCall> }> {
      upstream = await startUpstream();
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, s.server ?? {}) });
      const call = upstream.next().then(async (c) => {
        c.sseHead();
        await c.write(frame(roleChunk()) + frame(tokenChunk('Half an')));
        await s.breakIt(c);
        return c;
      });
      return { call };
    }

    for (const s of scenarios) {
      describe(`when ${s.name}`, () => {
        it('a raw client gets the data so far, then a final data: {"error":…} frame and a cleanly ended body', async () => {
          const { call } = await startBroken(s);
          const record = nextRequestRecord(proxy!, (r) => r.model === 'up-1');
          const sse: SseReader = await openSse(`${proxy!.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
          const end = await within(5000, sse.ended, 'the end of the stream');
          assert.equal(sse.status, 200);
          assert.equal(end.aborted, false, 'the body ends properly (last chunk), not by a dropped connection');
          assert.deepEqual(sse.frames.slice(0, 2), [`data: ${roleChunk()}`, `data: ${tokenChunk('Half an')}`]);
          assert.equal(sse.frames.length, 3, `frames: ${JSON.stringify(sse.frames)}`);
          const last = sse.frames[2]!;
          assert.match(last, /^data: \{"error":/);
          assertOpenAIError(JSON.parse(last.slice('data: '.length)), s.code);
          assert.ok(!sse.frames.includes('data: [DONE]'), 'no [DONE] after a failure');
          assert.equal((await record).endReason, s.reason);
          await call;
          await stillServes(proxy!, upstream!);
        });

        it("the SDK's stream iteration throws an APIError (no silent truncation)", async () => {
          const { call } = await startBroken(s);
          const client = new OpenAI({ baseURL: proxy!.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
          const stream = await client.chat.completions.create({ model: 'up-1', messages, stream: true });
          let text = '';
          const err = await within(
            5000,
            (async () => {
              for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
            })().then(
              () => null,
              (e: unknown) => e,
            ),
            'the stream to end',
          );
          assert.equal(text, 'Half an');
          assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${String(err)}`);
          assert.equal((err.error as { code?: string } | undefined)?.code, s.code);
          await call;
          await stillServes(proxy!, upstream!);
        });
      });
    }

    it('an idle stream also releases the upstream socket', async () => {
      const { call } = await startBroken(scenarios[2]!);
      const sse = await openSse(`${proxy!.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      const c = await call;
      await within(5000, sse.ended, 'the end of the stream');
      await within(1000, c.socketClosed, 'the idle upstream socket to close');
    });
  });
});
