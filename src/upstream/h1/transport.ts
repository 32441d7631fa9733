/**
 * The proxy's own HTTP/1.1 client for upstreams (issue 6): keep-alive connections over
 * `node:net` / `node:tls`, one request at a time per connection, responses read with
 * {@link ResponseParser}. It does what the `node:http` transport does (src/upstream/transport.ts),
 * with one listener set per connection instead of per request and one body push per socket read
 * instead of one per HTTP chunk (the profile in parser.ts).
 *
 * `node:http` stays available (`server.upstreamClient: node`): tools that instrument `node:http`
 * (nock in our tests, APM agents) see only requests made through it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { HttpParseError, ResponseParser, type ParserEvents, type ResponseHead } from './parser.js';
import { ConnPool, type Conn } from './pool.js';
import { targetCache, type Target } from '../target.js';
import {
  connectTimeoutError,
  firstByteTimeoutError,
  NodeHeaders,
  type BodySink,
  type DirectBody,
  type Transport,
  type TransportRequest,
  type UpstreamHeaders,
  type UpstreamResponse,
} from '../transport.js';

/** Options for {@link createH1Transport}. */
export interface H1Options {
  connectTimeoutMs: number;
  /** Idle connections kept per origin (default 1024). */
  maxFreePerOrigin?: number;
  /** How long an idle connection is kept when the server does not say (default 60 s). */
  idleMs?: number;
  /** Extra TLS options (a private CA in tests). */
  tls?: tls.ConnectionOptions;
  /** Monotonic ms for idle limits (default `performance.now`; tests pass their own clock). */
  now?: () => number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values may hold HTAB, visible ASCII and obs-text, nothing else (RFC 9110 §5.5). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function invalidHeader(what: string): Error {
  return Object.assign(new TypeError(`Invalid character in ${what}`), { code: 'ERR_INVALID_CHAR' });
}

/** The request line and headers, as latin1 text (as `node:http` writes them). */
function requestHead(t: Target, init: TransportRequest, bodyLength: number | null): string {
  if (!TOKEN.test(init.method)) throw invalidHeader('method');
  let head = `${init.method} ${t.path} HTTP/1.1\r\nhost: ${t.host}\r\nconnection: keep-alive\r\n`;
  let hasAuth = false;
  for (const name in init.headers) {
    const value = init.headers[name]!;
    if (!TOKEN.test(name)) throw invalidHeader(`header name "${name}"`);
    if (BAD_VALUE.test(value)) throw invalidHeader(`header "${name}"`);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue;
    if (lower === 'authorization') hasAuth = true;
    head += `${name}: ${value}\r\n`;
  }
  if (t.auth !== undefined && !hasAuth) head += `authorization: Basic ${Buffer.from(t.auth).toString('base64')}\r\n`;
  if (bodyLength !== null) head += `content-length: ${bodyLength}\r\n`;
  return head + '\r\n';
}

/** The error for a connection that ended before the response did (what `node:http` reports). */
function hangUp(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

function ignore(): void {}

/** A connection and the call using it (null while idle in the pool). */
type UserConn = Conn & { user: Call | null };

interface Pending {
  resolve(res: UpstreamResponse): void;
  reject(err: Error): void;
}

/** Connection-level plumbing shared by every call: the pool and how connections are opened. */
class Client {
  readonly pool: ConnPool<UserConn>;
  private readonly sessions = new Map<string, Buffer>();

  constructor(readonly opts: H1Options) {
    this.pool = new ConnPool<UserConn>({ maxFreePerOrigin: opts.maxFreePerOrigin ?? 1024, idleMs: opts.idleMs ?? 60_000, now: opts.now ?? (() => performance.now()) });
  }

  /** A new connection; its listeners hand everything to whichever call owns it at the time. */
  connect(t: Target, key: string): UserConn {
    const port = Number(t.port) || (t.protocol === 'https:' ? 443 : 80);
    let socket: net.Socket;
    if (t.protocol === 'https:') {
      socket = tls.connect({
        host: t.hostname,
        port,
        servername: net.isIP(t.hostname) ? undefined : t.hostname,
        ALPNProtocols: ['http/1.1'],
        session: this.sessions.get(key),
        ...this.opts.tls,
      });
      socket.on('session', (s: Buffer) => this.sessions.set(key, s));
    } else {
      socket = net.connect({ host: t.hostname, port });
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1_000);
    const conn: UserConn = { socket, key, reused: false, idleSince: 0, idleLimitMs: 0, user: null };
    socket.on('data', (chunk: Buffer) => (conn.user ? conn.user.onData(chunk) : this.pool.drop(conn)));
    socket.on('end', () => (conn.user ? conn.user.onSocketEnd() : this.pool.drop(conn)));
    socket.on('error', (err: Error) => (conn.user ? conn.user.fail(err) : this.pool.drop(conn)));
    socket.on('close', () => (conn.user ? conn.user.fail(hangUp()) : this.pool.drop(conn)));
    return conn;
  }
}

/**
 * The response handed to the caller. Its body is made on first use: a relay that takes it with
 * `direct` never has a Readable (issue 6: ~1.5 KB of heap per open stream, and the per-read
 * stream machinery, see {@link BodySink}).
 */
class H1Response implements UpstreamResponse {
  readonly ok: boolean;

  constructor(
    readonly status: number,
    readonly headers: UpstreamHeaders,
    private readonly call: Call,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get body(): Readable {
    return this.call.readable();
  }

  direct(sink: BodySink): DirectBody | null {
    return this.call.takeDirect(sink);
  }
}

/** One request and its response. */
class Call implements ParserEvents, DirectBody {
  private conn: UserConn | null = null;
  private parser: ResponseParser;
  /** The body as a stream, once asked for (or once bytes came before anyone took it). */
  private body: Readable | null = null;
  /** The body taken directly (`H1Response.direct`). */
  private sink: BodySink | null = null;
  private head: ResponseHead | null = null;
  /** The promise is settled (head delivered, or failed). */
  private settled = false;
  /** Nothing more will happen: ended, failed or aborted. */
  private over = false;
  private ended = false;
  private received = false;
  private retried = false;
  private headTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private readonly onAbort = (): void => {
    const r: unknown = this.init.signal.reason;
    this.fail(r instanceof Error ? r : new Error('aborted'), true);
  };

  constructor(
    private readonly client: Client,
    private readonly target: Target,
    private readonly key: string,
    private readonly init: TransportRequest,
    private head0: string | null,
    private readonly pending: Pending,
  ) {
    this.parser = new ResponseParser(this, { noBody: init.method === 'HEAD' });
  }

  start(): void {
    if (this.init.signal.aborted) return this.onAbort();
    this.init.signal.addEventListener('abort', this.onAbort, { once: true });
    const ms = this.init.firstByteTimeoutMs ?? 0;
    if (ms > 0) this.headTimer = setTimeout(() => this.fail(firstByteTimeoutError(ms), true), ms);
    this.send(this.client.pool.acquire(this.key));
  }

  private send(idle: UserConn | null): void {
    let conn = idle;
    if (conn === null) {
      conn = this.client.connect(this.target, this.key);
      const ms = this.client.opts.connectTimeoutMs;
      if (ms > 0) {
        this.connectTimer = setTimeout(() => this.fail(connectTimeoutError(ms), true), ms);
        conn.socket.once(this.target.protocol === 'https:' ? 'secureConnect' : 'connect', () => this.clearConnectTimer());
      }
    }
    conn.user = this;
    this.conn = conn;
    const s = conn.socket;
    const body = this.init.body;
    s.cork();
    s.write(this.head0!, 'latin1');
    if (body !== undefined) s.write(body);
    s.uncork();
  }

  onData(chunk: Buffer): void {
    if (!this.received) {
      this.received = true;
      // No resend once the upstream answered: the request head (a string of many pieces, ~1 KB
      // of heap) need not live as long as the stream (bench/heap.ts --snapshot, issue 6).
      this.head0 = null;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.fail(err as Error, true);
      return;
    }
    if (this.ended) this.complete();
  }

  onSocketEnd(): void {
    try {
      this.parser.finish();
    } catch (err) {
      this.fail(err instanceof HttpParseError && !this.received ? hangUp() : (err as Error));
      return;
    }
    if (this.ended) this.complete();
  }

  onHead(head: ResponseHead): void {
    this.clearHeadTimer();
    this.head = head;
    const response = new H1Response(head.status, new NodeHeaders(head.headers), this);
    this.settled = true;
    this.init.onResponse?.(response);
    this.pending.resolve(response);
  }

  /** The body as a Readable (made on first use; not once it was taken directly). */
  readable(): Readable {
    if (this.body !== null) return this.body;
    if (this.sink !== null) throw new Error('the response body was taken directly');
    const body = new Readable({
      read: () => this.resume(),
      destroy: (err, cb) => {
        // The consumer let go of the body before it ended: the connection cannot be reused.
        if (!this.over) this.fail(err ?? new Error('response body destroyed'), true);
        cb(err);
      },
    });
    // The error is emitted on the next tick, when a consumer that already let go (the relay
    // stopped and aborted) may have removed its listener: an upstream failure nobody reads must
    // not become an uncaught exception.
    body.on('error', ignore);
    this.body = body;
    return body;
  }

  /** Hand the body to `sink` from now on; null if a Readable has it already, or it was taken. */
  takeDirect(sink: BodySink): DirectBody | null {
    if (this.body !== null || this.sink !== null) return null;
    this.sink = sink;
    return this;
  }

  /** Read again (after backpressure). */
  resume(): void {
    if (!this.over) this.conn?.socket.resume();
  }

  /** The consumer let go of a directly taken body before it ended: the connection cannot be reused. */
  destroy(): void {
    if (!this.over) this.fail(new Error('response body destroyed'), true);
  }

  onBody(chunk: Buffer): void {
    if (this.sink !== null) {
      // Nothing after a failure (the sink may have ended the call from inside this read).
      if (!this.over && !this.sink.data(chunk)) this.conn?.socket.pause();
    } else if (!this.readable().push(chunk)) {
      this.conn?.socket.pause();
    }
  }

  onEnd(): void {
    this.ended = true;
    if (this.sink !== null) this.sink.end();
    else this.readable().push(null);
  }

  /** The response ended: the connection goes back to the pool when it may carry another. */
  private complete(): void {
    if (this.over) return;
    this.over = true;
    this.cleanup();
    const conn = this.conn!;
    this.conn = null;
    conn.user = null;
    // An answer that came before the whole request was written (an early 413) leaves the rest
    // of the request in the connection: it cannot carry another one.
    if (this.head!.keepAlive && conn.socket.writableLength === 0) this.client.pool.release(conn, this.head!.keepAliveTimeoutMs);
    else conn.socket.destroy();
  }

  /**
   * The call failed. Before the head, the promise rejects, except that a request written into a
   * reused connection that died before answering is sent once more on a new connection (the
   * server closed an idle connection as we wrote: RFC 9112 §9.3.1). After the head, the body
   * errors. `final` marks failures that are never retried (abort, time-outs, bad responses).
   */
  fail(err: Error, final = false): void {
    if (this.over) return;
    const conn = this.conn;
    if (conn) {
      conn.user = null;
      this.conn = null;
      conn.socket.destroy();
    }
    this.clearConnectTimer();
    if (this.ended) {
      // The response was whole; only the connection misbehaved after it.
      this.over = true;
      this.cleanup();
      return;
    }
    if (!this.settled && !final && conn?.reused === true && !this.received && !this.retried) {
      this.retried = true;
      this.send(null);
      return;
    }
    this.over = true;
    this.cleanup();
    if (!this.settled) {
      this.settled = true;
      this.pending.reject(err);
    } else if (this.sink !== null) {
      this.sink.error(err);
    } else {
      const body = this.readable();
      if (!body.destroyed) body.destroy(err);
    }
  }

  private cleanup(): void {
    this.clearHeadTimer();
    this.clearConnectTimer();
    this.init.signal.removeEventListener('abort', this.onAbort);
  }

  private clearHeadTimer(): void {
    if (this.headTimer) clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}

/** The HTTP/1.1 transport; `close()` ends its idle connections. */
export function createH1Transport(opts: H1Options): { send: Transport; close(): void } {
  const client = new Client(opts);
  const targetOf = targetCache();
  const send: Transport = (url, init) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const t = targetOf(url);
      if (t.protocol !== 'http:' && t.protocol !== 'https:') throw new TypeError(`Unsupported protocol ${t.protocol}`);
      const body = init.body;
      const length = body === undefined ? (init.method === 'GET' || init.method === 'HEAD' ? null : 0) : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      const head = requestHead(t, init, length);
      new Call(client, t, `${t.protocol}//${t.host}`, init, head, { resolve, reject }).start();
    });
  return { send, close: () => client.pool.close() };
}
