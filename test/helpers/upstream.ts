/**
 * Helpers for the integration tests where sockets matter (issue 2: aborts, stalls, TCP splits,
 * a held first token).
 *
 * - {@link startUpstream}: a real node:http upstream on 127.0.0.1:0 that the test scripts call by
 *   call: take the next request ({@link TestUpstream.next}), then write a head, frames (whole or
 *   split at chosen bytes with small gaps), hold, end, reset the socket (RST) or never answer.
 *   It counts connections and lets a test await the close of the socket a request came on.
 * - {@link startBlackhole}: a loopback listener whose accept queue is full, so a new connect
 *   hangs (the kernel drops the SYN) — a real connect timeout without leaving 127.0.0.1.
 * - Caller side: {@link rawRequest} and {@link openSse}, a plain line-reading client (like
 *   `curl -N`) that records frames as they arrive.
 * - {@link within} and {@link nextRequestRecord}: bounded, event-driven waits.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { Worker } from 'node:worker_threads';
import type { RequestRecord } from '../../src/events/types.js';
import type { TestProxy } from './proxy.js';

// ---------------------------------------------------------------------------------------------
// waits

/** Resolve with `p`, or reject after `ms` with a message that says what did not happen. */
export async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function, for a test that holds an upstream until it says so. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The next `request.end` record published by the proxy that matches `pred` (the same record the
 * request log writes with msg "request").
 */
export function nextRequestRecord(proxy: TestProxy, pred: (r: RequestRecord) => boolean = () => true, ms = 5000): Promise<RequestRecord> {
  let off: () => void = () => undefined;
  const p = new Promise<RequestRecord>((resolve) => {
    off = proxy.deps.bus.on('request.end', (r) => {
      if (pred(r)) resolve(r);
    });
  });
  return within(ms, p, 'a request.end record').finally(() => off());
}

// ---------------------------------------------------------------------------------------------
// OpenAI-shaped frames

/** A `chat.completion.chunk` payload (the JSON text of one SSE event). */
export function chatChunk(delta: Record<string, unknown>, finish: string | null = null, model = 'up-1'): string {
  return JSON.stringify({
    id: 'chatcmpl-up',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
}

/** The content chunk for `text`. */
export const tokenChunk = (text: string): string => chatChunk({ content: text });
/** The role chunk OpenAI sends first. */
export const roleChunk = (): string => chatChunk({ role: 'assistant', content: '' });
/** The closing chunk. */
export const finishChunk = (reason = 'stop'): string => chatChunk({}, reason);
/** A canonical frame, as the proxy writes it. */
export const frame = (payload: string): string => `data: ${payload}\n\n`;
export const DONE = 'data: [DONE]\n\n';

// ---------------------------------------------------------------------------------------------
// the scriptable upstream

/** One request that reached the test upstream, and the means to answer it. */
export interface UpstreamCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The request body as text. */
  body: string;
  json<T = Record<string, unknown>>(): T;
  req: IncomingMessage;
  res: ServerResponse;
  socket: Socket;
  /** Resolves when the TCP socket this request came on closes (for whatever reason). */
  socketClosed: Promise<void>;
  /** Write the head now (status, headers), without waiting for a body write. */
  head(status?: number, headers?: Record<string, string>): void;
  /** `head()` with `text/event-stream` headers. */
  sseHead(headers?: Record<string, string>): void;
  /** Write bytes; resolves once they were handed to the kernel. Rejects if the socket is gone. */
  write(data: string | Buffer): Promise<void>;
  /** Write `data` cut at each byte offset in `cuts`, one write per piece, `gapMs` apart. */
  writeSplit(data: string | Buffer, cuts: number[], gapMs?: number): Promise<void>;
  /** End the response (the chunked body ends properly). */
  end(data?: string): Promise<void>;
  /** Reset the TCP connection (RST): the proxy sees ECONNRESET mid-body. */
  reset(): void;
}

/** A running test upstream. */
export interface TestUpstream {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `<origin>/v1`, as an upstream's `baseUrl`. */
  baseUrl: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Every request received, in order. */
  readonly calls: UpstreamCall[];
  /** The next request not yet taken (waits up to `ms`). */
  next(ms?: number): Promise<UpstreamCall>;
  /** Answer every later request with `fn` instead of queueing it for next(). */
  autoReply(fn: ((call: UpstreamCall) => void | Promise<void>) | null): void;
  /** Destroy every socket and stop listening. */
  close(): Promise<void>;
}

/** Start a scriptable upstream on 127.0.0.1:0. */
export async function startUpstream(): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const closedOf = new WeakMap<Socket, Promise<void>>();
  const calls: UpstreamCall[] = [];
  const queue: UpstreamCall[] = [];
  const waiters: Array<(c: UpstreamCall) => void> = [];
  let auto: ((call: UpstreamCall) => void | Promise<void>) | null = null;
  let connections = 0;

  const server = http.createServer({ keepAliveTimeout: 60_000 });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    // Each write leaves as its own TCP segment, so a split test really splits.
    socket.setNoDelay(true);
    closedOf.set(socket, new Promise<void>((resolve) => socket.once('close', () => resolve())));
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const socket = req.socket;
      const body = Buffer.concat(parts).toString('utf8');
      const write = (data: string | Buffer): Promise<void> =>
        new Promise((resolve, reject) => {
          if (res.destroyed || socket.destroyed) return reject(new Error('upstream socket is gone'));
          res.write(data, (err) => (err ? reject(err) : resolve()));
        });
      const call: UpstreamCall = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
        req,
        res,
        socket,
        socketClosed: closedOf.get(socket)!,
        head(status = 200, headers = {}) {
          res.writeHead(status, headers);
          res.flushHeaders();
        },
        sseHead(headers = {}) {
          this.head(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
        },
        write,
        async writeSplit(data, cuts, gapMs = 5) {
          const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
          let from = 0;
          for (const cut of [...cuts, buf.length]) {
            if (cut <= from) continue;
            await write(buf.subarray(from, cut));
            from = cut;
            if (from < buf.length && gapMs > 0) await sleep(gapMs);
          }
        },
        end(data) {
          return new Promise((resolve) => res.end(data ?? '', () => resolve()));
        },
        reset() {
          socket.resetAndDestroy();
        },
      };
      calls.push(call);
      if (auto) {
        void Promise.resolve(auto(call)).catch(() => undefined);
        return;
      }
      const w = waiters.shift();
      if (w) w(call);
      else queue.push(call);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    port,
    origin,
    baseUrl: `${origin}/v1`,
    get connections() {
      return connections;
    },
    calls,
    next(ms = 5000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      let taken: ((c: UpstreamCall) => void) | undefined;
      const p = new Promise<UpstreamCall>((resolve) => {
        taken = resolve;
        waiters.push(resolve);
      });
      return within(ms, p, 'the next upstream request').catch((err: unknown) => {
        const i = waiters.indexOf(taken!);
        if (i >= 0) waiters.splice(i, 1);
        throw err;
      });
    },
    autoReply(fn) {
      auto = fn;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answer a chat request with a whole, well-formed stream of `tokens` (then [DONE]). */
export async function streamTokens(call: UpstreamCall, tokens: string[], gapMs = 0): Promise<void> {
  if (!call.res.headersSent) call.sseHead();
  await call.write(frame(roleChunk()));
  for (const t of tokens) {
    if (gapMs > 0) await sleep(gapMs);
    await call.write(frame(tokenChunk(t)));
  }
  await call.write(frame(finishChunk()));
  await call.write(DONE);
  await call.end();
}

// ---------------------------------------------------------------------------------------------
// a listener that never accepts

/**
 * A loopback port where a new TCP connect hangs: a listener with the smallest backlog, in a worker
 * whose event loop is blocked so it never accepts, and whose accept queue is then filled. The
 * kernel drops further SYNs, so a client's connect attempt times out (Linux loopback).
 */
export async function startBlackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const net = require('node:net');
     const s = net.createServer();
     s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(s.address().port);
       Atomics.wait(workerData, 0, 0); // never accept until the test is done
       s.close();
     });`,
    { eval: true, workerData: flag },
  );
  const port = await within(5000, new Promise<number>((resolve) => worker.once('message', resolve)), 'the blackhole listener');
  // Fill the accept queue (backlog 1 → 2 on Linux); later connects stay in SYN_SENT.
  const fillers: Socket[] = [];
  const connected: Promise<void>[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
    connected.push(new Promise((resolve) => s.once('connect', () => resolve())));
  }
  await within(5000, Promise.all(connected), 'the blackhole accept queue to fill');
  // One more that will hang: proves the queue is full before the test relies on it.
  const probe = net.connect(port, '127.0.0.1');
  probe.on('error', () => undefined);
  fillers.push(probe);
  return {
    port,
    async close() {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      for (const s of fillers) s.destroy();
      await within(5000, new Promise((resolve) => worker.once('exit', resolve)), 'the blackhole worker to exit');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// the caller side: a plain HTTP client

/** A whole response. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** Options for {@link rawRequest} / {@link openSse}. */
export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  /** A string or object (sent as JSON with content-type application/json unless a type is given). */
  body?: string | Buffer | Record<string, unknown> | unknown[];
  /** Reuse this agent (keep-alive tests); default: a fresh connection. */
  agent?: http.Agent;
}

function send(url: string, opts: RawRequestOptions): http.ClientRequest {
  const headers: Record<string, string | string[]> = { ...(opts.headers ?? {}) };
  let body: string | Buffer | undefined;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) body = opts.body;
    else {
      body = JSON.stringify(opts.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
  }
  const req = http.request(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent: opts.agent ?? false });
  req.end(body);
  return req;
}

/** Send one request and read the whole answer. */
export function rawRequest(url: string, opts: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = send(url, opts);
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
    });
  });
}

/** A streaming response read like `curl -N` does: bytes as they come, split into frames. */
export interface SseReader {
  status: number;
  headers: IncomingHttpHeaders;
  /** Complete frames so far (text before each blank line, without the `\n\n`). */
  frames: string[];
  /** Every byte received so far, decoded. */
  text(): string;
  /** Number of `data` reads the socket delivered (each read is one or more frames). */
  reads: number;
  /** Wait for frame number `i` (0-based) to be complete. */
  frame(i: number, ms?: number): Promise<string>;
  /** Resolves when the response ended (normally or not): `aborted` says which. */
  ended: Promise<{ aborted: boolean }>;
  /** Drop the connection (the caller goes away). */
  destroy(): void;
  res: IncomingMessage;
}

/** Open a request and resolve once the response head arrived. */
export function openSse(url: string, opts: RawRequestOptions = {}): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const req = send(url, opts);
    req.on('error', reject);
    req.on('response', (res) => {
      const decoder = new StringDecoder('utf8');
      let buf = '';
      let all = '';
      const frames: string[] = [];
      const wanted: Array<{ i: number; resolve: (f: string) => void }> = [];
      const flush = (): void => {
        for (let k = wanted.length - 1; k >= 0; k--) {
          const w = wanted[k]!;
          if (frames[w.i] !== undefined) {
            wanted.splice(k, 1);
            w.resolve(frames[w.i]!);
          }
        }
      };
      const reader: SseReader = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        text: () => all,
        reads: 0,
        frame(i, ms = 5000) {
          if (frames[i] !== undefined) return Promise.resolve(frames[i]!);
          return within(ms, new Promise<string>((r) => { wanted.push({ i, resolve: r }); }), `frame #${i} (have ${frames.length}: ${JSON.stringify(frames.slice(-3))})`);
        },
        ended: new Promise((resolveEnd) => {
          res.on('end', () => resolveEnd({ aborted: false }));
          res.on('aborted', () => resolveEnd({ aborted: true }));
          res.on('error', () => resolveEnd({ aborted: true }));
          res.on('close', () => resolveEnd({ aborted: !res.complete }));
        }),
        destroy() {
          req.destroy();
        },
        res,
      };
      res.on('data', (c: Buffer) => {
        reader.reads++;
        const s = decoder.write(c);
        all += s;
        buf += s;
        let at: number;
        while ((at = buf.indexOf('\n\n')) !== -1) {
          frames.push(buf.slice(0, at));
          buf = buf.slice(at + 2);
        }
        flush();
      });
      resolve(reader);
    });
  });
}

/** The `data:` payloads of frames that carry data (comments and `[DONE]` included as they are). */
export function dataPayloads(frames: string[]): string[] {
  return frames.filter((f) => f.startsWith('data: ')).map((f) => f.slice('data: '.length));
}
