/**
 * The proxy's own HTTP/1.1 upstream client (src/upstream/h1/) against real local servers:
 * connection reuse, the stale keep-alive retry, aborts, time-outs, TLS, and what it refuses to send.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createH1Transport } from '../../src/upstream/h1/transport.js';
import type { UpstreamResponse } from '../../src/upstream/transport.js';
import { collect } from '../../src/util/collect.js';
import { waitUntil } from '../helpers/fault-upstream.js';

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function text(res: UpstreamResponse): Promise<string> {
  return (await collect(res.body)).toString('utf8');
}

const signal = (): AbortSignal => new AbortController().signal;

describe('HTTP/1.1 upstream client (integration, real sockets)', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  function transport(opts: Partial<Parameters<typeof createH1Transport>[0]> = {}): ReturnType<typeof createH1Transport> {
    const t = createH1Transport({ connectTimeoutMs: 2_000, ...opts });
    closers.push(() => t.close());
    return t;
  }

  async function server(handler: http.RequestListener): Promise<{ url: string; connections: () => number; server: http.Server }> {
    const s = http.createServer(handler);
    let n = 0;
    s.on('connection', () => n++);
    const port = await listen(s);
    closers.push(() => s.close());
    closers.push(() => s.closeAllConnections());
    return { url: `http://127.0.0.1:${port}`, connections: () => n, server: s };
  }

  it('sends the request as node:http would, reads chunked and fixed-length bodies, and reuses one connection', async () => {
    const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const up = await server(async (req, res) => {
      const body = (await collect(req)).toString();
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url?.startsWith('/chunked')) {
        res.write('data: a\n\n');
        res.end('data: é\n\n');
      } else {
        res.setHeader('content-length', '2');
        res.end('ok');
      }
    });
    const t = transport();
    const a = await t.send(`${up.url}/chunked?x=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-custom': 'v' }, body: '{"é":1}', signal: signal() });
    assert.equal(a.status, 200);
    assert.equal(a.ok, true);
    assert.equal(a.headers.get('Transfer-Encoding'), 'chunked');
    assert.equal(await text(a), 'data: a\n\ndata: é\n\n');
    const b = await t.send(`${up.url}/fixed`, { method: 'GET', headers: {}, signal: signal() });
    assert.equal(await text(b), 'ok');
    assert.equal(up.connections(), 1, 'the second request reused the first connection');
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.url, '/chunked?x=1');
    assert.equal(seen[0]!.body, '{"é":1}');
    assert.equal(seen[0]!.headers['content-length'], String(Buffer.byteLength('{"é":1}')));
    assert.equal(seen[0]!.headers['host'], up.url.slice('http://'.length));
    assert.equal(seen[0]!.headers['x-custom'], 'v');
    assert.equal(seen[1]!.headers['content-length'], undefined, 'a GET without body has no length');
  });

  it('many concurrent requests each get their own response, and idle connections are reused after', async () => {
    const up = await server((req, res) => res.end(req.url));
    const t = transport();
    const urls = Array.from({ length: 50 }, (_, i) => `/r${i}`);
    const bodies = await Promise.all(urls.map(async (u) => text(await t.send(up.url + u, { method: 'GET', headers: {}, signal: signal() }))));
    assert.deepEqual(bodies, urls);
    const opened = up.connections();
    await Promise.all(urls.map(async (u) => text(await t.send(up.url + u, { method: 'GET', headers: {}, signal: signal() }))));
    assert.equal(up.connections(), opened, 'no new connections for the second round');
  });

  it('sends a request again on a new connection when a reused one dies before answering; a new one that dies is an error', async () => {
    // A raw server that answers the first request of each connection and drops the connection at
    // the second without a byte: what a server closing an idle connection as we write looks like.
    let conns = 0;
    const raw = net.createServer((sock) => {
      conns++;
      let requests = 0;
      sock.on('data', (d) => {
        if (!d.includes('\r\n\r\n')) return;
        if (++requests === 1) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else sock.destroy();
      });
    });
    const port = await listen(raw);
    closers.push(() => raw.close());
    const t = transport();
    const url = `http://127.0.0.1:${port}/`;
    assert.equal(await text(await t.send(url, { method: 'POST', headers: {}, body: 'a', signal: signal() })), 'ok');
    assert.equal(await text(await t.send(url, { method: 'POST', headers: {}, body: 'b', signal: signal() })), 'ok');
    assert.equal(conns, 2, 'the retry opened a second connection');

    const dead = net.createServer((sock) => sock.on('data', () => sock.destroy()));
    const deadPort = await listen(dead);
    closers.push(() => dead.close());
    await assert.rejects(t.send(`http://127.0.0.1:${deadPort}/`, { method: 'POST', headers: {}, body: 'x', signal: signal() }), { code: 'ECONNRESET' });
  });

  it('drops an idle connection before the server\'s Keep-Alive timeout and after its own idle limit', async () => {
    const up = await server((_req, res) => res.end('x'));
    up.server.keepAliveTimeout = 1_000; // sends Keep-Alive: timeout=1, so the pool keeps it for 0 ms
    const t = transport();
    await text(await t.send(up.url, { method: 'GET', headers: {}, signal: signal() }));
    await text(await t.send(up.url, { method: 'GET', headers: {}, signal: signal() }));
    assert.equal(up.connections(), 2);

    const up2 = await server((_req, res) => res.end('x'));
    up2.server.keepAliveTimeout = 60_000;
    // The pool's own limit, on a clock the test moves: kept just under it, dropped at it.
    let now = 0;
    const t2 = transport({ idleMs: 30_000, now: () => now });
    const get = async (): Promise<string> => text(await t2.send(up2.url, { method: 'GET', headers: {}, signal: signal() }));
    await get();
    now += 29_999;
    await get();
    assert.equal(up2.connections(), 1, 'reused within the idle limit');
    now += 30_000;
    await get();
    assert.equal(up2.connections(), 2, 'a new connection past it');
  });

  it('does not reuse a connection the server closes, nor one answered before its request was written', async () => {
    // Connection: close on every answer.
    const closing = await server((_req, res) => {
      res.setHeader('connection', 'close');
      res.end('bye');
    });
    const t = transport();
    for (let i = 0; i < 3; i++) assert.equal(await text(await t.send(closing.url, { method: 'GET', headers: {}, signal: signal() })), 'bye');
    assert.equal(closing.connections(), 3);

    // An early 413 (keep-alive) while 8 MiB of request body is still on its way: the rest of that
    // body would be read as the next request, so the connection must not carry one.
    let requests = 0;
    const early = net.createServer((sock) => {
      sock.on('data', (d) => {
        if (d.includes('POST /big')) {
          requests++;
          sock.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig');
          sock.pause(); // read no more of it
        } else if (d.includes('GET /next')) {
          requests++;
          sock.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext');
        }
      });
    });
    const port = await listen(early);
    closers.push(() => early.close());
    let conns = 0;
    early.on('connection', () => conns++);
    const big = await t.send(`http://127.0.0.1:${port}/big`, { method: 'POST', headers: {}, body: Buffer.alloc(8 * 1024 * 1024, 0x61), signal: signal() });
    assert.equal(big.status, 413);
    assert.equal(await text(big), 'big');
    assert.equal(await text(await t.send(`http://127.0.0.1:${port}/next`, { method: 'GET', headers: {}, signal: signal(), firstByteTimeoutMs: 2_000 })), 'next');
    assert.equal(requests, 2);
    assert.equal(conns, 2, 'the second request went on a new connection');
  });

  it('a body taken directly: every byte in order, backpressure, the end, reuse; destroy closes the connection; errors reach the sink', async () => {
    // 40 chunks of 8 KiB written at once: several socket reads, so a paused read matters.
    const piece = (i: number): string => String.fromCharCode(97 + (i % 26)).repeat(8192);
    const up = await server((req, res) => {
      if (req.url === '/many') {
        for (let i = 0; i < 40; i++) res.write(piece(i));
        res.end();
      } else if (req.url === '/half') {
        // Cut once the head and the first piece are written (not after a guessed delay).
        res.write('part', () => res.socket?.destroy());
      } else {
        res.end('x');
      }
    });
    const t = transport();
    const got: Buffer[] = [];
    let paused = 0;
    let resumeTimer: NodeJS.Timeout | null = null;
    let ended!: Promise<void>;
    // Taken as the head is parsed (from onResponse, as the relay does): the bytes that came in
    // the same read as the head go to the sink too.
    const res = await t.send(`${up.url}/many`, {
      method: 'GET', headers: {}, signal: signal(),
      onResponse: (r) => {
        ended = new Promise<void>((resolve, reject) => {
          const body = r.direct!({
            data(chunk) {
              assert.equal(resumeTimer, null, 'no data while paused');
              got.push(Buffer.from(chunk));
              if (got.length % 2 === 1) return true;
              // Every second read: pause, and resume a little later.
              paused++;
              resumeTimer = setTimeout(() => {
                resumeTimer = null;
                body!.resume();
              }, 5);
              return false;
            },
            end: resolve,
            error: reject,
          });
          assert.ok(body, 'the h1 transport offers the body directly');
        });
      },
    });
    assert.equal(res.direct!({ data: () => true, end() {}, error() {} }), null, 'only once');
    assert.throws(() => res.body, /taken directly/);
    await ended;
    assert.equal(Buffer.concat(got).toString(), Array.from({ length: 40 }, (_, i) => piece(i)).join(''));
    assert.ok(paused > 0, 'backpressure was exercised');
    assert.equal(await text(await t.send(`${up.url}/one`, { method: 'GET', headers: {}, signal: signal() })), 'x');
    assert.equal(up.connections(), 1, 'the connection went back to the pool after a direct body');

    // A body whose bytes already went to a stream (nobody took it at the head) cannot be taken directly.
    const streamed = await t.send(`${up.url}/one`, { method: 'GET', headers: {}, signal: signal() });
    assert.equal(streamed.direct!({ data: () => true, end() {}, error() {} }), null);
    assert.equal(await text(streamed), 'x');

    // The upstream breaks off mid-body (a chunked body cut short): the sink's error, once, and nothing after.
    const events: string[] = [];
    let failed!: Promise<Error>;
    await t.send(`${up.url}/half`, {
      method: 'GET', headers: {}, signal: signal(),
      onResponse: (r) => {
        failed = new Promise<Error>((resolve) => {
          r.direct!({ data: (c) => (events.push(`data:${c.toString()}`), true), end: () => events.push('end'), error: (e) => (events.push('error'), resolve(e)) });
        });
      },
    });
    assert.ok((await failed) instanceof Error);
    assert.deepEqual(events, ['data:part', 'error']);

    // The consumer lets go mid-body: the connection is closed, not reused.
    const slow = await server((_req, res) => void res.write('first'));
    let closedBy!: Promise<Error>;
    await t.send(slow.url, {
      method: 'GET', headers: {}, signal: signal(),
      onResponse: (r) => {
        closedBy = new Promise<Error>((resolve) => {
          const b = r.direct!({ data: () => (setImmediate(() => b!.destroy()), true), end() {}, error: resolve });
        });
      },
    });
    assert.match((await closedBy).message, /destroyed/);
    const open = (): Promise<number> => new Promise((resolve) => slow.server.getConnections((_e, n) => resolve(n)));
    await waitUntil(async () => (await open()) === 0, 'the upstream connection was closed');
  });

  it('an abort mid-body ends the body with the reason and closes the connection; the next request gets a new one', async () => {
    let closed = false;
    const up = await server((req, res) => {
      if (req.url === '/slow') {
        res.write('first');
        res.on('close', () => (closed = true));
        return;
      }
      res.end('fine');
    });
    const t = transport();
    const ctrl = new AbortController();
    const res = await t.send(`${up.url}/slow`, { method: 'GET', headers: {}, signal: ctrl.signal });
    const [first] = (await once(res.body, 'data')) as [Buffer];
    assert.equal(first.toString(), 'first');
    const errored = once(res.body, 'error');
    ctrl.abort(new Error('caller left'));
    const [err] = (await errored) as [Error];
    assert.equal(err.message, 'caller left');
    await waitUntil(() => closed, 'the upstream saw its connection close');
    assert.equal(await text(await t.send(`${up.url}/ok`, { method: 'GET', headers: {}, signal: signal() })), 'fine');
    assert.equal(up.connections(), 2);
  });

  it('times out a response head that does not come, and an abort before the head rejects with its reason', async () => {
    const up = await server(() => undefined);
    const t = transport();
    await assert.rejects(t.send(up.url, { method: 'GET', headers: {}, signal: signal(), firstByteTimeoutMs: 50 }), { code: 'PROXY_FIRST_BYTE_TIMEOUT' });
    const ctrl = new AbortController();
    const p = t.send(up.url, { method: 'GET', headers: {}, signal: ctrl.signal });
    setImmediate(() => ctrl.abort(new Error('stop')));
    await assert.rejects(p, /stop/);
  });

  it('refuses to send a header that would split the request, and a connection refused is an error', async () => {
    const up = await server((_req, res) => res.end());
    const t = transport();
    await assert.rejects(t.send(up.url, { method: 'GET', headers: { 'x-a': 'v\r\nx-injected: 1' }, signal: signal() }), { code: 'ERR_INVALID_CHAR' });
    await assert.rejects(t.send(up.url, { method: 'GET', headers: { 'bad name': 'v' }, signal: signal() }), { code: 'ERR_INVALID_CHAR' });
    assert.equal(up.connections(), 0, 'nothing was sent');
    const free = net.createServer();
    await listen(free);
    const freePort = (free.address() as AddressInfo).port;
    free.close();
    await once(free, 'close');
    await assert.rejects(t.send(`http://127.0.0.1:${freePort}/`, { method: 'GET', headers: {}, signal: signal() }), { code: 'ECONNREFUSED' });
  });

  it('speaks HTTPS (TLS, ALPN http/1.1) with the same connection reuse', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'h1-tls-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const cert = readFileSync(`${dir}/cert.pem`);
    const s = https.createServer({ key: readFileSync(`${dir}/key.pem`), cert }, (req, res) => res.end(`secure ${req.url}`));
    let n = 0;
    s.on('secureConnection', () => n++);
    const port = await listen(s);
    closers.push(() => s.close());
    closers.push(() => s.closeAllConnections());
    const t = transport({ tls: { ca: cert } });
    assert.equal(await text(await t.send(`https://localhost:${port}/a`, { method: 'GET', headers: {}, signal: signal() })), 'secure /a');
    assert.equal(await text(await t.send(`https://localhost:${port}/b`, { method: 'GET', headers: {}, signal: signal() })), 'secure /b');
    assert.equal(n, 1);
    // Without the CA the certificate is refused.
    const strict = transport();
    await assert.rejects(strict.send(`https://localhost:${port}/c`, { method: 'GET', headers: {}, signal: signal() }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });
});
