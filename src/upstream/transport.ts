/**
 * The upstream transport: requests over `node:http`/`node:https` with a keep-alive
 * agent, bodies as Node streams. Node's bundled `fetch` cost a promise, a web-stream read, a
 * view and AbortSignal bookkeeping per upstream read and ~60 KB of heap per open stream
 * (bench/profile.ts, bench/README.md); this is the leaner path. nock intercepts `node:http` too,
 * so tests still script the upstream. A fetch-shaped function (the simulator, a test's own
 * fetch) is adapted with {@link fromFetch}.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { targetCache } from './target.js';
import { toAbortSignal, type CancelSignal } from '../util/cancel.js';
import { ConnectTimeoutError, FirstByteTimeoutError } from './errors.js';

/** Response headers, read the way the relay needs them. */
export interface UpstreamHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(fn: (value: string, name: string) => void): void;
}

/** An upstream answer whose head has arrived; the body streams. */
export interface UpstreamResponse {
  status: number;
  ok: boolean;
  headers: UpstreamHeaders;
  body: Readable;
  /**
   * Take the body without a stream, where the transport offers it (the proxy's own HTTP/1.1
   * client): chunks go to `sink` from inside the socket read. Only before anything read `body`,
   * and only once; null when the body is no longer available this way.
   */
  direct?(sink: BodySink): DirectBody | null;
}

/**
 * Receives a response body without a Readable in between (heap per open stream, bench/heap.ts). A Readable in paused mode
 * costs per upstream read a buffered push, two `process.nextTick`s (`emitReadable`,
 * `maybeReadMore`) and a `read()`: about 1 KB allocated per token at 5,000 open streams (a
 * sampling heap profile of `bench/heap.ts`'s hold), much of it alive across the token gap and so
 * promoted, which is what grew the heap while streams were held open.
 */
export interface BodySink {
  /** The body bytes of one socket read; return false to pause reading until {@link DirectBody.resume}. */
  data(chunk: Buffer): boolean;
  /** The body is complete. */
  end(): void;
  /** The body broke off (connection lost, bad framing, abort); nothing follows. */
  error(err: Error): void;
}

/** The transport's side of a body taken with {@link UpstreamResponse.direct}. */
export interface DirectBody {
  /** Read again after `data` returned false. */
  resume(): void;
  /** Stop: the connection is closed, `error` is called if the body had not ended. */
  destroy(): void;
}

/** One request. */
export interface TransportRequest {
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The caller's abort: ends the request (or its response body) with the signal's reason. */
  signal: CancelSignal;
  /** No response head within this many ms (0 = no limit): fails with a {@link FirstByteTimeoutError}. */
  firstByteTimeoutMs?: number;
  /**
   * Called with the response as soon as its head is parsed, synchronously, before the promise
   * resolves (and, on `node:http`, before the rest of that socket read is parsed): lets a relay
   * take the first body chunks as they are parsed (time to first token, `npm run bench -- --only latency`).
   */
  onResponse?(res: UpstreamResponse): void;
}

/** Sends a request; resolves when the response head arrived. */
export type Transport = (url: string, init: TransportRequest) => Promise<UpstreamResponse>;

/** The fetch signature (global fetch, the simulator, a test double). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** {@link UpstreamHeaders} over Node's header object (names lower-cased). */
export class NodeHeaders implements UpstreamHeaders {
  constructor(private readonly h: http.IncomingHttpHeaders) {}
  get(name: string): string | null {
    const v = this.h[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.h[name.toLowerCase()] !== undefined;
  }
  forEach(fn: (value: string, name: string) => void): void {
    for (const [name, v] of Object.entries(this.h)) if (v !== undefined) fn(Array.isArray(v) ? v.join(', ') : v, name);
  }
}

/** A keep-alive `node:http` transport; `close()` ends its pooled sockets. */
export function createHttpTransport(opts: { connectTimeoutMs: number }): { send: Transport; close(): void } {
  // LIFO keeps the hottest sockets busy and lets idle ones time out; no per-request DNS/TLS.
  const agentOpts = { keepAlive: true, keepAliveMsecs: 1_000, maxFreeSockets: 1024, scheduling: 'lifo' as const, timeout: 0 };
  const httpAgent = new http.Agent(agentOpts);
  const httpsAgent = new https.Agent(agentOpts);
  const targetOf = targetCache();

  const send: Transport = (url, init) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const target = targetOf(url);
      const secure = target.protocol === 'https:';
      const headers: Record<string, string> = { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = String(typeof init.body === 'string' ? Buffer.byteLength(init.body) : init.body.byteLength);
      const req = (secure ? https : http).request({ protocol: target.protocol, hostname: target.hostname, port: target.port, path: target.path, auth: target.auth, method: init.method, headers, agent: secure ? httpsAgent : httpAgent });
      let connectTimer: NodeJS.Timeout | null = null;
      const ms = init.firstByteTimeoutMs ?? 0;
      let headTimer: NodeJS.Timeout | null = ms > 0 ? setTimeout(() => req.destroy(new FirstByteTimeoutError(ms)), ms) : null;
      const clearHeadTimer = (): void => {
        if (headTimer) clearTimeout(headTimer);
        headTimer = null;
      };
      let res: http.IncomingMessage | null = null;
      const onAbort = (): void => {
        const reason = init.signal.reason instanceof Error ? init.signal.reason : new Error('aborted');
        if (res) res.destroy(reason);
        else req.destroy(reason);
      };
      if (init.signal.aborted) onAbort();
      else init.signal.addEventListener('abort', onAbort, { once: true });
      const done = (): void => init.signal.removeEventListener('abort', onAbort);
      req.on('socket', (socket) => {
        socket.setNoDelay(true);
        if (opts.connectTimeoutMs > 0 && (socket as { connecting?: boolean }).connecting) {
          connectTimer = setTimeout(() => req.destroy(new ConnectTimeoutError(opts.connectTimeoutMs)), opts.connectTimeoutMs);
          socket.once('connect', () => connectTimer && clearTimeout(connectTimer));
        }
      });
      req.on('response', (r) => {
        if (connectTimer) clearTimeout(connectTimer);
        clearHeadTimer();
        res = r;
        r.once('close', done);
        const status = r.statusCode ?? 0;
        const response: UpstreamResponse = { status, ok: status >= 200 && status < 300, headers: new NodeHeaders(r.headers), body: r };
        init.onResponse?.(response);
        resolve(response);
      });
      req.on('error', (err) => {
        if (connectTimer) clearTimeout(connectTimer);
        clearHeadTimer();
        done();
        reject(err);
      });
      req.end(init.body);
    });

  return {
    send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** Adapt a fetch-shaped function (the in-process simulator, a test's fetch) to a transport. */
export function fromFetch(fn: FetchLike): Transport {
  return async (url, init) => {
    const ms = init.firstByteTimeoutMs ?? 0;
    const caller = toAbortSignal(init.signal);
    let signal = caller;
    let timer: NodeJS.Timeout | null = null;
    if (ms > 0) {
      const ctrl = new AbortController();
      const onAbort = (): void => ctrl.abort(caller.reason);
      if (caller.aborted) onAbort();
      else caller.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => ctrl.abort(new FirstByteTimeoutError(ms)), ms);
      signal = ctrl.signal;
    }
    let res: Response;
    try {
      res = await fn(url, { method: init.method, headers: init.headers, body: init.body as BodyInit | undefined, signal, redirect: 'manual' });
    } catch (err) {
      // A fetch aborted by the timer rejects with the timer's reason (or an AbortError): report the timeout.
      if (signal.aborted && !caller.aborted && signal.reason instanceof FirstByteTimeoutError) throw signal.reason;
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
    }
    const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>) : Readable.from([]);
    const response: UpstreamResponse = { status: res.status, ok: res.ok, headers: res.headers, body };
    init.onResponse?.(response);
    return response;
  };
}
