/**
 * The proxy's own HTTP/1.1 client for upstreams (docs/ARCHITECTURE.md "Performance rules"): keep-alive connections over
 * `node:net` / `node:tls`, one request at a time per connection, responses read with
 * the response parser (parser.ts) and calls (call.ts). It does what the `node:http` transport does (src/upstream/transport.ts),
 * with one listener set per connection instead of per request and one body push per socket read
 * instead of one per HTTP chunk (the profile in parser.ts).
 *
 * `node:http` stays available (`server.upstreamClient: node`): tools that instrument `node:http`
 * (nock in our tests, APM agents) see only requests made through it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { ConnPool } from './pool.js';
import { targetCache, type Target } from '../target.js';
import type { Transport, TransportRequest, UpstreamResponse } from '../transport.js';
import { Call, type CallClient, type UserConn } from './call.js';
import { InvalidHeaderError, SocketHangUpError } from '../errors.js';

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
  return new InvalidHeaderError(what);
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

/** Connection-level plumbing shared by every call: the pool and how connections are opened. */
class Client implements CallClient {
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
    socket.on('close', () => (conn.user ? conn.user.fail(new SocketHangUpError()) : this.pool.drop(conn)));
    return conn;
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
