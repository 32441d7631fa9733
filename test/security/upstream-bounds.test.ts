/**
 * Security review, "an upstream can crash the proxy": what an upstream sends cannot make the
 * proxy hold memory without bound, and a long stream to a slow reader leaks no listeners.
 *
 * 1. Pass-through SSE (`/v1/completions`) with an endless line (no newline, ever): past
 *    `server.maxEventBytes` the proxy ends the stream with an error frame (it re-frames events, and
 *    cannot re-frame one it will not hold; a line-reading client could not hold it either), stops
 *    reading the upstream (usage estimated, one warn log line); its heap stays flat.
 * 2. A non-streaming chat answer over `server.maxUpstreamBodyBytes` (with or without
 *    Content-Length): 502 `upstream_response_too_large`, the upstream's connection closed before it
 *    wrote everything; an answer under the cap is relayed byte for byte.
 * 3. A slow reader of a long pass-through stream: many backpressure waits, the response's `close`
 *    listeners stay bounded, no MaxListenersExceededWarning.
 *
 * The upstream is a real node:http server on 127.0.0.1:0; callers use raw node:http.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { nextRequestRecord, rawRequest, within } from '../helpers/upstream.js';
import type { ProxyState } from '../../src/http/request-context.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------
// the upstream

/** What one upstream answer did: bytes handed to its socket, and how it ended. */
interface Served {
  written: number;
  hash: string;
  /** Every byte was handed to the socket and the response ended. */
  finished: boolean;
  /** The connection closed before the response was finished (the proxy hung up). */
  cutShort: boolean;
}

type Handler = (req: http.IncomingMessage, body: Record<string, unknown>, res: http.ServerResponse) => Promise<Served>;

interface Upstream {
  baseUrl: string;
  /** Each answer's outcome, in order of arrival. */
  served: Array<Promise<Served>>;
  close(): Promise<void>;
}

async function startUpstream(handler: Handler): Promise<Upstream> {
  const served: Array<Promise<Served>> = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      res.on('error', () => undefined);
      req.socket.on('error', () => undefined);
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
      served.push(handler(req, body, res));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    served,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Write `total` bytes of `piece` after `first`, honouring backpressure (wait for `drain` when the
 * socket is full), then end. Stops as soon as the connection closes.
 */
async function writeBody(res: http.ServerResponse, first: Buffer, piece: Buffer, total: number, last = Buffer.alloc(0)): Promise<Served> {
  const hash = createHash('sha256');
  const out: Served = { written: 0, hash: '', finished: false, cutShort: false };
  let closed = false;
  res.once('close', () => {
    closed = true;
    out.cutShort = !res.writableFinished;
  });
  const write = async (b: Buffer): Promise<void> => {
    hash.update(b);
    out.written += b.length;
    if (res.write(b)) return;
    await new Promise<void>((resolve) => {
      const go = (): void => {
        res.off('drain', go);
        res.off('close', go);
        resolve();
      };
      res.on('drain', go);
      res.on('close', go);
    });
  };
  if (first.length > 0) await write(first);
  let left = total;
  while (left > 0 && !closed) {
    const b = left >= piece.length ? piece : piece.subarray(0, left);
    await write(b);
    left -= b.length;
  }
  if (!closed && last.length > 0) await write(last);
  if (!closed) await new Promise<void>((resolve) => res.end(() => resolve()));
  out.finished = res.writableFinished && !out.cutShort;
  out.hash = hash.digest('hex');
  // Let a 'close' that is on its way land before the outcome is read.
  if (!out.finished) await new Promise<void>((resolve) => (closed ? resolve() : res.once('close', () => resolve())));
  return out;
}

// ---------------------------------------------------------------------------------------------
// the caller

interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  hash: string;
  head: string;
  complete: boolean;
}

/** POST `body` and read the whole answer, counting and hashing it (nothing is kept but the head). */
function post(url: string, body: Record<string, unknown>, onResponse?: (res: http.IncomingMessage) => void): Promise<Received> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      let head = '';
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
        if (head.length < 4096) head += c.toString('latin1', 0, Math.min(c.length, 4096));
      });
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, hash: hash.digest('hex'), head, complete: res.complete }),
      );
      onResponse?.(res);
    });
    req.end(payload);
  });
}

/** The largest `heapUsed` growth over `baseline` seen while `run` runs (sampled every 10 ms); fails as soon as it passes `bound`. */
async function heapGrowthDuring<T>(bound: number, run: (abort: Promise<never>) => Promise<T>): Promise<{ result: T; maxGrowth: number }> {
  const baseline = process.memoryUsage().heapUsed;
  let maxGrowth = 0;
  let fail!: (err: Error) => void;
  const abort = new Promise<never>((_, reject) => (fail = reject));
  abort.catch(() => undefined);
  const sampler = setInterval(() => {
    maxGrowth = Math.max(maxGrowth, process.memoryUsage().heapUsed - baseline);
    if (maxGrowth > bound) fail(new Error(`the heap grew by ${(maxGrowth / MiB).toFixed(0)} MiB (bound ${bound / MiB} MiB)`));
  }, 10);
  try {
    const result = await Promise.race([run(abort), abort]);
    return { result, maxGrowth };
  } finally {
    clearInterval(sampler);
  }
}

// ---------------------------------------------------------------------------------------------

describe('security: upstream bounds (an upstream cannot crash the proxy)', function () {
  this.timeout(120_000);

  describe('pass-through SSE with an endless line', () => {
    const TOTAL = 200 * MiB;
    const FIRST = Buffer.from('data: {"id":"cmpl-1","object":"text_completion","choices":[{"text":"Hel","index":0,"finish_reason":null}]}\n\n');
    const LINE_START = Buffer.from('data: ');
    const XS = Buffer.alloc(MiB, 'x');
    const NORMAL = 'data: {"id":"cmpl-2","object":"text_completion","choices":[{"text":"lo","index":0}]}\n\ndata: [DONE]\n\n';
    let up: Upstream;
    let proxy: TestProxy;

    before(async () => {
      up = await startUpstream(async (_req, body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        if (body.prompt === 'normal') return writeBody(res, Buffer.from(NORMAL), Buffer.alloc(0), 0);
        // A first normal event, then `data: xxxx…` without a newline: 200 MB in 1 MB writes.
        return writeBody(res, Buffer.concat([FIRST, LINE_START]), XS, TOTAL);
      });
      proxy = await startTestProxy({
        config: {
          server: { maxEventBytes: 64 * KiB, idleTimeoutMs: 30_000 },
          upstreams: { up: { type: 'openai', baseUrl: up.baseUrl, apiKey: 'sk-upstream' } },
          models: [{ match: 'up-*', upstream: 'up' }],
        },
      });
    });
    after(async () => {
      await proxy?.close();
      await up?.close();
    });

    it('ends the stream with an error frame past maxEventBytes, stops reading the upstream (one warn line), the heap stays flat', async () => {
      const record = nextRequestRecord(proxy, (r) => r.route === '/v1/completions', 120_000);
      let callerRes: http.IncomingMessage | undefined;
      const { result: got, maxGrowth } = await heapGrowthDuring(100 * MiB, async (abort) => {
        abort.catch(() => callerRes?.destroy());
        return post(`${proxy.url}/v1/completions`, { model: 'up-1', prompt: 'x', stream: true }, (res) => (callerRes = res));
      });
      const served = await within(20_000, up.served[0]!, 'the upstream to see its connection closed');
      console.log(`      endless line: the upstream wrote ${(served.written / MiB).toFixed(1)} MiB before its connection closed; heap growth max ${(maxGrowth / MiB).toFixed(1)} MiB`);
      assert.equal(got.status, 200);
      assert.ok(served.cutShort && !served.finished, 'the proxy stopped reading and closed the upstream connection');
      assert.ok(served.written < FIRST.length + LINE_START.length + TOTAL, 'the upstream did not get to write it all');
      assert.ok(got.head.startsWith(FIRST.toString('latin1')), 'the first event as it came');
      const rest = got.head.slice(FIRST.length);
      assert.ok(rest.startsWith('data: {"error":') && rest.endsWith('\n\n') && rest.indexOf('\n') === rest.length - 2, `then one error frame: ${rest}`);
      const error = (JSON.parse(rest.slice('data: '.length)) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'upstream_event_too_large');
      assert.match(error.message, new RegExp(`${64 * KiB} bytes`));
      assert.ok(got.complete, 'the response ended properly');

      const rec = await record;
      assert.equal(rec.status, 200);
      assert.match(String(rec.error), /larger than/);
      assert.equal(rec.endReason, 'upstream_error', 'the record says the stream did not end well');
      assert.equal(rec.bytesOut, got.bytes);
      assert.equal(rec.tokenSource, 'estimated', 'usage from that stream falls back to the estimate');
      const warns = proxy.records().filter((l) => l.level === 40 && /maxEventBytes/.test(String(l.msg)));
      assert.equal(warns.length, 1, 'logged once');
      assert.equal(warns[0]!.requestId, got.headers['x-request-id']);
      assert.ok(!proxy.logs.some((l) => l.includes('xxxxxxxx')), 'no payload text in the logs');

      // The proxy keeps serving.
      const next = await rawRequest(`${proxy.url}/v1/completions`, { body: { model: 'up-1', prompt: 'normal', stream: true } });
      assert.equal(next.status, 200);
      assert.equal(next.body, NORMAL);
    });
  });

  describe('a non-streaming chat answer larger than maxUpstreamBodyBytes', () => {
    const CAP = 1 * MiB;
    /**
     * The oversized answer: far more than the loopback kernel buffers between the upstream and the
     * proxy take in before the proxy hangs up (3.8 MiB measured here), so an upstream that sees its
     * connection closed before it wrote everything shows the proxy stopped reading.
     */
    const BIG = 32 * MiB;
    const PIECE = Buffer.alloc(64 * KiB, 'y');
    const prefix = (id: string): Buffer =>
      Buffer.from(`{"id":"${id}","object":"chat.completion","created":0,"model":"up-1","choices":[{"index":0,"message":{"role":"assistant","content":"`);
    const SUFFIX = Buffer.from('"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}');
    /** A JSON answer whose content is `size` bytes of `y`. */
    const answerBytes = (id: string, size: number): number => prefix(id).length + size + SUFFIX.length;
    let up: Upstream;
    let proxy: TestProxy;

    before(async () => {
      up = await startUpstream(async (_req, body, res) => {
        const [mode, sizeText] = String((body.messages as Array<{ content: string }>)[0]!.content).split(':');
        const size = Number(sizeText);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (mode === 'cl') headers['content-length'] = String(answerBytes(mode, size));
        res.writeHead(200, headers);
        return writeBody(res, prefix(mode!), PIECE, size, SUFFIX);
      });
      proxy = await startTestProxy({
        config: {
          server: { maxUpstreamBodyBytes: CAP },
          upstreams: { up: { type: 'openai', baseUrl: up.baseUrl, apiKey: 'sk-upstream' } },
          models: [{ match: 'up-*', upstream: 'up' }],
        },
      });
    });
    after(async () => {
      await proxy?.close();
      await up?.close();
    });

    const ask = (mode: 'cl' | 'chunked', size: number): Promise<Received> =>
      post(`${proxy.url}/v1/chat/completions`, { model: 'up-1', messages: [{ role: 'user', content: `${mode}:${size}` }] });

    for (const mode of ['cl', 'chunked'] as const) {
      it(`${mode === 'cl' ? 'with' : 'without'} Content-Length: 502 upstream_response_too_large, the upstream cut off; the proxy keeps serving`, async () => {
        const n = up.served.length;
        const record = nextRequestRecord(proxy, (r) => r.route === '/v1/chat/completions', 20_000);
        const got = await ask(mode, BIG);
        assert.equal(got.status, 502);
        const body = JSON.parse(got.head) as { error: { message: string; type: string; param: unknown; code: string } };
        assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
        assert.equal(body.error.code, 'upstream_response_too_large');
        assert.equal(body.error.type, 'upstream_error');
        assert.match(body.error.message, new RegExp(`${CAP} bytes`));
        assert.match(body.error.message, /maxUpstreamBodyBytes/);
        assert.ok(got.headers['x-request-id']);

        const served = await within(10_000, up.served[n]!, 'the upstream to see its connection closed');
        console.log(`      ${mode}: the upstream wrote ${(served.written / MiB).toFixed(2)} of ${(answerBytes(mode, BIG) / MiB).toFixed(2)} MiB before its connection closed`);
        assert.ok(served.cutShort, 'the upstream saw its connection closed');
        assert.ok(!served.finished && served.written < answerBytes(mode, BIG), `it did not write everything (${served.written} B)`);

        const rec = await record;
        assert.equal(rec.status, 502);
        assert.match(String(rec.error), /maxUpstreamBodyBytes/);

        // The proxy keeps serving: an answer under the cap, byte for byte.
        const small = await ask(mode, 512 * KiB);
        const expected = await up.served[n + 1]!;
        assert.equal(small.status, 200);
        assert.ok(expected.finished);
        assert.equal(small.bytes, answerBytes(mode, 512 * KiB));
        assert.equal(small.hash, expected.hash, 'byte for byte');
        assert.equal(small.headers['content-length'], String(small.bytes));
      });
    }

    it('an answer of exactly the cap is relayed whole', async () => {
      const n = up.served.length;
      for (const mode of ['cl', 'chunked'] as const) {
        const got = await ask(mode, CAP - answerBytes(mode, 0));
        assert.equal(got.status, 200, mode);
        assert.equal(got.bytes, CAP);
      }
      assert.equal(up.served.length, n + 2);
    });
  });

  describe('a slow reader of a long pass-through stream', () => {
    const TOTAL = 32 * MiB;
    const FRAME = Buffer.from(`data: {"choices":[{"text":"${'z'.repeat(8 * KiB)}","index":0}]}\n\n`);
    let up: Upstream;
    let proxy: TestProxy;
    let proxyRes: http.ServerResponse | null = null;

    before(async () => {
      up = await startUpstream(async (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        return writeBody(res, Buffer.alloc(0), FRAME, TOTAL - (TOTAL % FRAME.length), Buffer.from('data: [DONE]\n\n'));
      });
      const capture: Koa.Middleware<ProxyState> = async (ctx, next) => {
        if (ctx.path === '/v1/completions') proxyRes = ctx.res;
        await next();
      };
      proxy = await startTestProxy({
        config: {
          server: { idleTimeoutMs: 30_000 },
          upstreams: { up: { type: 'openai', baseUrl: up.baseUrl, apiKey: 'sk-upstream' } },
          models: [{ match: 'up-*', upstream: 'up' }],
        },
        ext: { middleware: [{ name: 'capture', middleware: capture, chat: false }] },
      });
    });
    after(async () => {
      await proxy?.close();
      await up?.close();
    });

    it('many backpressure waits: close listeners stay bounded, no MaxListenersExceededWarning', async () => {
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => {
        if (w.name === 'MaxListenersExceededWarning') warnings.push(w);
      };
      process.on('warning', onWarning);
      let drains = 0;
      let maxClose = 0;
      let sampler: NodeJS.Timeout | undefined;
      try {
        const got = await post(`${proxy.url}/v1/completions`, { model: 'up-1', prompt: 'x', stream: true }, (res) => {
          const watched = proxyRes!;
          watched.on('drain', () => drains++);
          sampler = setInterval(() => {
            maxClose = Math.max(maxClose, watched.listenerCount('close'));
          }, 2);
          // The slow reader: pause every 1 MiB for 20 ms (the proxy's socket fills, its writes wait).
          let sincePause = 0;
          res.on('data', (c: Buffer) => {
            sincePause += c.length;
            if (sincePause < MiB) return;
            sincePause = 0;
            res.pause();
            setTimeout(() => res.resume(), 20);
          });
        });
        const served = await up.served[0]!;
        // process.emitWarning delivers on the next tick: let it come before checking there was none.
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(got.status, 200);
        assert.equal(got.bytes, served.written, 'every byte arrived');
        assert.equal(got.hash, served.hash);
        console.log(`      slow reader: ${drains} backpressure waits; at most ${maxClose} 'close' listeners on the response`);
        assert.ok(drains >= 50, `many backpressure waits (${drains})`);
        assert.ok(maxClose <= 6, `close listeners stay bounded (max ${maxClose})`);
        assert.deepEqual(warnings.map((w) => w.message), []);
      } finally {
        clearInterval(sampler);
        process.off('warning', onWarning);
      }
    });
  });
});
