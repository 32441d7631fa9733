/**
 * Limits on abuse (issue 7, src/http/abuse-limits.ts), over raw sockets: too many connections,
 * oversized headers, slowloris on the head and on the body, an oversized body, a stream past its
 * maximum duration. Each refusal is a clear HTTP error where one can be sent, a count in
 * `llm_proxy_refused_total{reason}`, and leaves the proxy serving the next caller.
 */
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  allReleased,
  chat,
  chatBody,
  getConnections,
  lastRecord,
  metricValue,
  rawCaller,
  rawChatRequest,
  sleep,
  waitUntil,
  type RawCaller,
} from '../helpers/fault-upstream.js';

const MODEL = 'sim-abuse';

describe('abuse limits (integration)', () => {
  let proxy: TestProxy | null = null;
  const callers: RawCaller[] = [];

  afterEach(async () => {
    for (const c of callers.splice(0)) c.socket.destroy();
    await proxy?.close();
    proxy = null;
  });

  async function start(server: Record<string, unknown>, sim: Record<string, unknown> = {}): Promise<TestProxy> {
    proxy = await startTestProxy({ config: { server: { timeoutCheckIntervalMs: 50, ...server }, upstreams: { sim: { sim } } } });
    return proxy;
  }
  const refused = (p: TestProxy, reason: string): Promise<number> => metricValue(p.deps.registry, 'llm_proxy_refused_total', { reason });
  async function caller(p: TestProxy, text = ''): Promise<RawCaller> {
    const c = await rawCaller(p.port, text);
    callers.push(c);
    return c;
  }
  /** Status line and parsed JSON body of a complete raw response. */
  function parse(raw: string): { status: number; body: { error: { code: string; message: string } } } {
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)![1]), body: JSON.parse(body) as never };
  }
  async function servesNext(p: TestProxy): Promise<void> {
    const r = await chat(p.url, chatBody(MODEL));
    assert.equal(r.status, 200);
    assert.equal(r.done, true);
  }

  it('maximum open connections: the one over the limit gets 503 too_many_connections and is closed; counted', async () => {
    const p = await start({ maxConnections: 3, headersTimeoutMs: 5_000 });
    for (let i = 0; i < 3; i++) await caller(p); // idle connections hold the three places
    await waitUntil(async () => (await getConnections(p.server)) === 3, 'three connections');
    const over = await caller(p, rawChatRequest(chatBody(MODEL)));
    await over.ended;
    const { status, body } = parse(over.received());
    assert.equal(status, 503);
    assert.equal(body.error.code, 'too_many_connections');
    assert.match(over.received(), /\r\nretry-after: 1\r\n/i);
    assert.equal(await refused(p, 'connections'), 1);
    for (const c of callers.splice(0)) c.socket.destroy();
    await waitUntil(async () => (await getConnections(p.server)) === 0, 'connections closed');
    await servesNext(p);
  });

  it('far past the limit (twice it), connections are dropped unanswered, and counted too', async () => {
    const p = await start({ maxConnections: 1, headersTimeoutMs: 5_000 });
    await caller(p);
    await caller(p); // over the limit: kept until it sends a request, to answer it
    await waitUntil(async () => (await getConnections(p.server)) === 2, 'two connections');
    const dropped = await caller(p);
    await dropped.ended;
    assert.equal(dropped.bytes(), 0);
    await waitUntil(async () => (await refused(p, 'connections')) === 2, 'two refusals counted');
  });

  it('request head over maxHeaderBytes: 431 and close; counted', async () => {
    const p = await start({ maxHeaderBytes: 4096 });
    const c = await caller(p, rawChatRequest(chatBody(MODEL), { 'x-filler': 'a'.repeat(5000) }));
    await c.ended;
    const { status, body } = parse(c.received());
    assert.equal(status, 431);
    assert.equal(body.error.code, 'request_header_fields_too_large');
    assert.equal(await refused(p, 'header_size'), 1);
    await servesNext(p);
  });

  it('slowloris on the head: a caller trickling headers is answered 408 and cut at headersTimeoutMs; counted', async () => {
    const p = await start({ headersTimeoutMs: 400, requestTimeoutMs: 5_000 });
    const c = await caller(p, 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const t0 = Date.now();
    const trickle = setInterval(() => c.socket.write('x-slow: 1\r\n'), 50);
    await c.ended;
    clearInterval(trickle);
    const took = Date.now() - t0;
    assert.ok(took >= 350 && took < 1_500, `cut after ~400 ms (${took} ms)`);
    const { status, body } = parse(c.received());
    assert.equal(status, 408);
    assert.equal(body.error.code, 'headers_timeout');
    assert.equal(await refused(p, 'headers_timeout'), 1);
    await servesNext(p);
  });

  it('a connection that sends nothing is closed at headersTimeoutMs too', async () => {
    const p = await start({ headersTimeoutMs: 300 });
    const c = await caller(p);
    await c.ended;
    assert.equal(parse(c.received()).status, 408);
    assert.equal(await refused(p, 'headers_timeout'), 1);
  });

  it('slowloris on the body: a caller trickling its body is answered 408 and cut at requestTimeoutMs; counted', async () => {
    const p = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const payload = JSON.stringify(chatBody(MODEL));
    const c = await caller(
      p,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
    );
    const t0 = Date.now();
    let at = 0;
    const trickle = setInterval(() => {
      if (at < payload.length - 1) c.socket.write(payload[at++]!); // never the last byte
    }, 30);
    await c.ended;
    clearInterval(trickle);
    const took = Date.now() - t0;
    assert.ok(took >= 500 && took < 2_000, `cut after ~600 ms (${took} ms)`);
    const { status, body } = parse(c.received());
    assert.equal(status, 408);
    assert.equal(body.error.code, 'request_timeout');
    assert.equal(await refused(p, 'request_timeout'), 1);
    const rec = await lastRecord(p, 1);
    assert.equal(rec.status, 408);
    await allReleased(p);
    await servesNext(p);
  });

  it('the timeouts do not cut a long stream once its request is read', async () => {
    const p = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300 }, { tokenDelayMs: 100, defaultMaxTokens: 8 });
    const r = await chat(p.url, chatBody(MODEL));
    assert.equal(r.status, 200);
    assert.equal(r.done, true, 'a ~800 ms stream outlives requestTimeoutMs');
    assert.equal(await refused(p, 'request_timeout'), 0);
  });

  it('body over maxBodyBytes: 413; counted', async () => {
    const p = await start({ maxBodyBytes: 2048 });
    const r = await chat(p.url, chatBody(MODEL, { messages: [{ role: 'user', content: 'x'.repeat(4096) }] }));
    assert.equal(r.status, 413);
    assert.equal(r.error?.code, 'request_too_large');
    assert.equal(await refused(p, 'body_size'), 1);
    await servesNext(p);
  });

  it('stream past maxStreamDurationMs: ended with an error frame; counted', async () => {
    const p = await start({ maxStreamDurationMs: 300 }, { tokenDelayMs: 50, defaultMaxTokens: 100 });
    const t0 = Date.now();
    const r = await chat(p.url, chatBody(MODEL));
    const took = Date.now() - t0;
    assert.ok(took >= 280 && took < 1_500, `ended at ~300 ms (${took} ms)`);
    assert.equal(r.status, 200);
    assert.ok(r.text.length > 0, 'tokens before the cut');
    assert.equal(r.error?.code, 'stream_duration_exceeded');
    assert.equal(await refused(p, 'stream_duration'), 1);
    const rec = await lastRecord(p, 1);
    assert.equal(rec.endReason, 'error');
    await allReleased(p);
    await sleep(0);
  });
});
