// Cancellation and graceful shutdown (issue 2): a caller that leaves aborts the upstream request
// at once (the real upstream sees its socket close within 1 s, the request log says
// client_aborted); shutdown lets streams finish within shutdownGraceMs, ends the rest with an
// error frame, answers new requests 503 while draining, and resolves.
import assert from 'node:assert/strict';
import net from 'node:net';
import nock from 'nock';
import OpenAI from 'openai';
import { routeUpTo, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  DONE,
  deferred,
  finishChunk,
  frame,
  nextRequestRecord,
  openSse,
  rawRequest,
  roleChunk,
  sleep,
  startUpstream,
  tokenChunk,
  within,
  type TestUpstream,
  type UpstreamCall,
} from '../helpers/upstream.js';

const messages = [{ role: 'user' as const, content: 'Say something.' }];

/**
 * Start a proxy as main.ts does: with the tokenizer tables preloaded. Otherwise the first request
 * that needs an estimate (an aborted stream has no upstream usage) loads them synchronously at
 * its end, blocking the event loop for ≈400 ms — time the 1 s abort budget is not about.
 */
async function startProxy(config: Record<string, unknown>): Promise<TestProxy> {
  const p = await startTestProxy({ config });
  p.deps.estimator.preload();
  return p;
}

/** The log line the request log wrote for request `id`. */
function logRecord(proxy: TestProxy, id: string): Record<string, unknown> | undefined {
  return proxy.records().find((r) => r.msg === 'request' && r.id === id);
}

/** Start a stream on the upstream: head, role chunk, one token; then hold (the caller decides). */
async function startHeld(call: UpstreamCall, token = 'Hello'): Promise<void> {
  call.sseHead();
  await call.write(frame(roleChunk()) + frame(tokenChunk(token)));
}

describe('cancellation and shutdown', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy | null = null;

  before(() => {
    if (nock.isActive()) nock.restore();
  });
  beforeEach(async () => {
    upstream = await startUpstream();
  });
  afterEach(async () => {
    await upstream.close();
    await proxy?.close();
    proxy = null;
  });

  describe('when the caller goes away', () => {
    it('SDK abort mid-stream: the upstream socket closes within 1 s, the log says client_aborted', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const ac = new AbortController();
      const served = upstream.next().then(async (call) => {
        await startHeld(call);
        return call;
      });
      const record = nextRequestRecord(proxy, (r) => r.model === 'up-1');
      const stream = await client.chat.completions.create({ model: 'up-1', messages, stream: true }, { signal: ac.signal });
      const it = stream[Symbol.asyncIterator]();
      let first = '';
      while (first === '') first = (await within(5000, it.next(), 'the first token')).value?.choices[0]?.delta.content ?? '';
      assert.equal(first, 'Hello');
      const call = await served;
      ac.abort();
      await within(1000, call.socketClosed, 'the upstream socket to close after the caller aborted');
      const r = await record;
      assert.equal(r.endReason, 'client_aborted');
      assert.equal(logRecord(proxy, r.id)?.endReason, 'client_aborted');
      // The iterator ends (the SDK treats its own abort as the end), it does not hang.
      await within(1000, it.next().catch(() => undefined), 'the aborted iterator to settle');
    });

    it('a raw client drops its socket mid-stream: the upstream socket closes within 1 s', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const served = upstream.next().then(async (call) => {
        await startHeld(call);
        return call;
      });
      const record = nextRequestRecord(proxy, (r) => r.model === 'up-1');
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await sse.frame(1);
      const call = await served;
      sse.destroy();
      await within(1000, call.socketClosed, 'the upstream socket to close after the caller left');
      const r = await record;
      assert.equal(r.endReason, 'client_aborted');
      assert.equal(logRecord(proxy, r.id)?.endReason, 'client_aborted');
    });

    it('the caller leaves while the upstream has not answered yet: the upstream request is aborted too', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const record = nextRequestRecord(proxy, (r) => r.model === 'up-1');
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const ac = new AbortController();
      const pending = client.chat.completions.create({ model: 'up-1', messages, stream: true }, { signal: ac.signal }).catch((e: unknown) => e);
      const call = await upstream.next(); // never answered
      ac.abort();
      await within(1000, call.socketClosed, 'the upstream socket to close');
      assert.ok((await pending) instanceof OpenAI.APIUserAbortError);
      assert.equal((await record).endReason, 'client_aborted');
    });

    it('stream: false, the caller leaves while waiting: the upstream request is aborted too', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const record = nextRequestRecord(proxy, (r) => r.model === 'up-1');
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const ac = new AbortController();
      const pending = client.chat.completions.create({ model: 'up-1', messages }, { signal: ac.signal }).catch((e: unknown) => e);
      const call = await upstream.next(); // never answered
      ac.abort();
      await within(1000, call.socketClosed, 'the upstream socket to close');
      assert.ok((await pending) instanceof OpenAI.APIUserAbortError);
      assert.equal((await record).endReason, 'client_aborted');
    });

    it('a pass-through stream: the caller leaves, the upstream socket closes within 1 s', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const served = upstream.next().then(async (call) => {
        call.sseHead();
        await call.write('data: {"choices":[{"text":"Hel"}]}\n\n');
        return call;
      });
      const record = nextRequestRecord(proxy, (r) => r.model === 'up-1');
      const sse = await openSse(`${proxy.url}/v1/completions`, { body: { model: 'up-1', prompt: 'x', stream: true } });
      await sse.frame(0);
      const call = await served;
      sse.destroy();
      await within(1000, call.socketClosed, 'the upstream socket to close');
      assert.equal((await record).endReason, 'client_aborted');
    });

    it('the proxy serves the next request after an abort', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      const served = upstream.next().then(async (call) => {
        await startHeld(call);
        return call;
      });
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await sse.frame(1);
      sse.destroy();
      await (await served).socketClosed;
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'sim-fast', messages });
      assert.equal(r.choices[0]?.finish_reason, 'stop');
    });
  });

  describe('graceful shutdown', () => {
    const graceMs = 600;

    it('lets a stream that ends within shutdownGraceMs finish, ends one that does not with an error frame, and resolves', async () => {
      // The upstream tells the streams apart by a caller header, forwarded by name (forwardHeaders).
      proxy = await startProxy({
        ...routeUpTo(upstream.baseUrl, { shutdownGraceMs: graceMs }),
        upstreams: { up: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'sk-upstream-secret', forwardHeaders: ['x-which'] } },
      });
      const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
      const finishA = deferred();
      const records = new Map<string, string>();
      const off = proxy.deps.bus.on('request.end', (r) => records.set(r.id, r.endReason));

      // A: finishes ~200 ms into the grace period. B and C: never finish on their own.
      const calls: UpstreamCall[] = [];
      upstream.autoReply(async (call) => {
        calls.push(call);
        const which = call.headers['x-which'];
        await startHeld(call, `from ${String(which)}`);
        if (which === 'A') {
          await finishA.promise;
          await sleep(200);
          await call.write(frame(tokenChunk(' done')) + frame(finishChunk()) + DONE);
          await call.end();
        }
      });
      const streamA = await client.chat.completions.create({ model: 'up-1', messages, stream: true }, { headers: { 'x-which': 'A' } });
      const sseB = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true }, headers: { 'x-which': 'B' } });
      const streamC = await client.chat.completions.create({ model: 'up-1', messages, stream: true }, { headers: { 'x-which': 'C' } });
      await sseB.frame(1);

      const readA = (async () => {
        let text = '';
        for await (const c of streamA) text += c.choices[0]?.delta.content ?? '';
        return text;
      })();
      const readC = (async () => {
        let text = '';
        try {
          for await (const c of streamC) text += c.choices[0]?.delta.content ?? '';
          return { text, err: null as unknown };
        } catch (err) {
          return { text, err };
        }
      })();

      const started = performance.now();
      const shutdown = proxy.shutdown();
      finishA.resolve();

      assert.equal(await within(5000, readA, 'stream A'), 'from A done', 'A finishes normally within the grace period');
      const endB = await within(5000, sseB.ended, 'stream B to be ended');
      assert.equal(endB.aborted, false, 'B ends with a proper last chunk');
      const lastB = sseB.frames.at(-1)!;
      assert.match(lastB, /^data: \{"error":/);
      const errB = (JSON.parse(lastB.slice('data: '.length)) as { error: { code: string; type: string; message: string } }).error;
      assert.equal(errB.code, 'server_shutdown');
      assert.deepEqual(sseB.frames.slice(0, 2), [`data: ${roleChunk()}`, `data: ${tokenChunk('from B')}`]);
      assert.ok(performance.now() - started >= graceMs * 0.9, 'B was given the grace period');

      const c = await within(5000, readC, 'stream C');
      assert.equal(c.text, 'from C');
      assert.ok(c.err instanceof OpenAI.APIError, `the SDK raises on the shutdown frame, got ${String(c.err)}`);

      await within(5000, shutdown, 'shutdown() to resolve');
      for (const call of calls) await within(1000, call.socketClosed, 'upstream sockets to be released');
      off();
      assert.deepEqual([...records.values()].sort(), ['done', 'shutdown', 'shutdown']);
    });

    it('answers a request that arrives while draining with 503 (pipelined on an open connection)', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl, { shutdownGraceMs: 2000 }));
      const finish = deferred();
      upstream.autoReply(async (call) => {
        await startHeld(call);
        await finish.promise;
        await call.write(frame(finishChunk()) + DONE);
        await call.end();
      });
      // The new request comes on a connection that is busy with a stream: HTTP/1.1 pipelining
      // (new connections get the same 503: test/integration/shutdown-drain.test.ts).
      const sock = net.connect(proxy.port, '127.0.0.1');
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        text += d;
      });
      sock.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      const req = (body: unknown, extra = ''): string => {
        const s = JSON.stringify(body);
        return `POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(s)}\r\n${extra}\r\n${s}`;
      };
      sock.write(req({ model: 'up-1', messages, stream: true }));
      await within(5000, new Promise<void>((resolve) => {
        const check = (): void => (text.includes(tokenChunk('Hello')) ? resolve() : void sock.once('data', () => setImmediate(check)));
        check();
      }), 'the first stream to start');

      const shutdown = proxy.shutdown();
      assert.equal(proxy.deps.state.draining, true);
      sock.write(req({ model: 'sim-fast', messages }, 'connection: close\r\n'));
      finish.resolve();
      await within(5000, closed, 'the connection to close');
      await within(5000, shutdown, 'shutdown() to resolve');

      const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
      assert.equal(responses.length, 2, text);
      assert.match(responses[0]!, /^HTTP\/1\.1 200 /);
      assert.ok(responses[0]!.includes('data: [DONE]'), 'the open stream finished normally');
      assert.match(responses[1]!, /^HTTP\/1\.1 503 /);
      const body = responses[1]!.slice(responses[1]!.indexOf('\r\n\r\n') + 4);
      const e = (JSON.parse(body) as { error: Record<string, unknown> }).error;
      assert.equal(e.type, 'server_error');
      assert.equal(e.code, 'server_shutdown');
      assert.match(responses[1]!, /\r\nconnection: close\r\n/i, 'the draining answer ends its connection');
    });

    it('no new connections are accepted once shutdown began', async () => {
      proxy = await startProxy(routeUpTo(upstream.baseUrl));
      await proxy.shutdown();
      await assert.rejects(rawRequest(`${proxy.url}/v1/models`), /ECONNREFUSED/);
    });

    // A request still waiting for its upstream's response head when the grace period ends has
    // sent nothing yet: it should get 503 (the proxy is shutting down), not a 500.
    for (const [what, path, body] of [
      ['a chat stream', '/v1/chat/completions', { model: 'up-1', messages, stream: true }],
      ['a pass-through request', '/v1/completions', { model: 'up-1', prompt: 'x' }],
    ] as const) {
      it(`${what} still waiting for upstream headers when the grace period ends gets 503`, async () => {
        proxy = await startProxy(routeUpTo(upstream.baseUrl, { shutdownGraceMs: 200 }));
        const pending = rawRequest(`${proxy.url}${path}`, { body });
        const call = await upstream.next(); // never answered
        const shutdown = proxy.shutdown();
        const res = await within(5000, pending, 'the answer');
        await within(5000, shutdown, 'shutdown() to resolve');
        await within(1000, call.socketClosed, 'the upstream socket to close');
        assert.equal(res.status, 503, res.body);
        const e = (JSON.parse(res.body) as { error: Record<string, unknown> }).error;
        assert.equal(e.type, 'server_error');
        assert.ok(res.headers['x-request-id']);
      });
    }
  });
});
