/**
 * One request on the proxy's HTTP/1.1 client (src/upstream/h1/transport.ts) and its response:
 * writing the request into a pooled or new connection, the stale keep-alive resend, time-outs,
 * abort, and the response body, as a Readable or taken directly by the relay ({@link BodySink}).
 */
import { Readable } from 'node:stream';
import { HttpParseError, ResponseParser, type ParserEvents, type ResponseHead } from './parser.js';
import type { Conn, ConnPool } from './pool.js';
import type { Target } from '../target.js';
import { NodeHeaders, type BodySink, type DirectBody, type TransportRequest, type UpstreamResponse } from '../transport.js';
import { BodyDestroyedError, ConnectTimeoutError, FirstByteTimeoutError, SocketHangUpError, invariant } from '../errors.js';
import { H1Response, type ResponseBodySource } from './response.js';

function ignore(): void {}

/** A connection and the call using it (null while idle in the pool). */
export type UserConn = Conn & { user: Call | null };

export interface Pending {
  resolve(res: UpstreamResponse): void;
  reject(err: Error): void;
}

/** What a call needs of the client: the pool, new connections, the connect time-out. */
export interface CallClient {
  readonly pool: ConnPool<UserConn>;
  readonly opts: { connectTimeoutMs: number };
  connect(t: Target, key: string): UserConn;
}

/** One request and its response. */
export class Call implements ParserEvents, DirectBody, ResponseBodySource {
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
    const r: unknown = this.signal.reason;
    this.fail(r instanceof Error ? r : new Error('aborted'), true);
  };
  private readonly signal: TransportRequest['signal'];
  private readonly firstByteTimeoutMs: number;
  /**
   * The request body, kept for a resend (with head0) until the upstream answers; then dropped, as
   * the request as a whole is not kept: the body (often a slice of an 8 KB pool slab) and the
   * headers need not live as long as the stream (bench/heap.ts --snapshot).
   */
  private body0: TransportRequest['body'];
  private onResponse: TransportRequest['onResponse'];

  constructor(
    private readonly client: CallClient,
    private readonly target: Target,
    private readonly key: string,
    init: TransportRequest,
    private head0: string | null,
    /** Dropped once settled: its two functions need not live as long as the stream (bench/heap.ts). */
    private pending: Pending | null,
  ) {
    this.parser = new ResponseParser(this, { noBody: init.method === 'HEAD' });
    this.signal = init.signal;
    this.firstByteTimeoutMs = init.firstByteTimeoutMs ?? 0;
    this.body0 = init.body;
    this.onResponse = init.onResponse;
  }

  start(): void {
    if (this.signal.aborted) return this.onAbort();
    this.signal.addEventListener('abort', this.onAbort, { once: true });
    const ms = this.firstByteTimeoutMs;
    if (ms > 0) this.headTimer = setTimeout(() => this.fail(new FirstByteTimeoutError(ms), true), ms);
    this.send(this.client.pool.acquire(this.key));
  }

  private send(idle: UserConn | null): void {
    let conn = idle;
    if (conn === null) {
      conn = this.client.connect(this.target, this.key);
      const ms = this.client.opts.connectTimeoutMs;
      if (ms > 0) {
        this.connectTimer = setTimeout(() => this.fail(new ConnectTimeoutError(ms), true), ms);
        conn.socket.once(this.target.protocol === 'https:' ? 'secureConnect' : 'connect', () => this.clearConnectTimer());
      }
    }
    conn.user = this;
    this.conn = conn;
    const s = conn.socket;
    const body = this.body0;
    // Sent (or resent) only before the upstream answered, while the head is kept.
    const head0 = this.head0;
    invariant(head0 !== null, 'request head kept until the upstream answers');
    s.cork();
    s.write(head0, 'latin1');
    if (body !== undefined) s.write(body);
    s.uncork();
  }

  onData(chunk: Buffer): void {
    if (!this.received) {
      this.received = true;
      // No resend once the upstream answered: the request head (a string of many pieces, ~1 KB
      // of heap) need not live as long as the stream (bench/heap.ts --snapshot).
      this.head0 = null;
      this.body0 = undefined;
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
      this.fail(err instanceof HttpParseError && !this.received ? new SocketHangUpError() : (err as Error));
      return;
    }
    if (this.ended) this.complete();
  }

  onHead(head: ResponseHead): void {
    this.clearHeadTimer();
    this.head = head;
    const response = new H1Response(head.status, new NodeHeaders(head.headers), this);
    this.settled = true;
    const onResponse = this.onResponse;
    this.onResponse = undefined;
    onResponse?.(response);
    // The parser reports one head per call (a second one would be a parser bug).
    const pending = this.pending;
    invariant(pending !== null, 'one response head per call');
    this.pending = null;
    pending.resolve(response);
  }

  /** The body as a Readable (made on first use; not once it was taken directly). */
  readable(): Readable {
    if (this.body !== null) return this.body;
    if (this.sink !== null) throw new Error('the response body was taken directly');
    const body = new Readable({
      read: () => this.resume(),
      destroy: (err, cb) => {
        // The consumer let go of the body before it ended: the connection cannot be reused.
        if (!this.over) this.fail(err ?? new BodyDestroyedError(), true);
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
    if (!this.over) this.fail(new BodyDestroyedError(), true);
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
    // Completion comes from a socket read (onData, onSocketEnd) after the parser's head and end.
    const conn = this.conn;
    const head = this.head;
    invariant(conn !== null && head !== null, 'a completed response has its connection and head');
    this.conn = null;
    conn.user = null;
    // An answer that came before the whole request was written (an early 413) leaves the rest
    // of the request in the connection: it cannot carry another one.
    if (head.keepAlive && conn.socket.writableLength === 0) this.client.pool.release(conn, head.keepAliveTimeoutMs);
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
      const pending = this.pending;
      invariant(pending !== null, 'an unsettled call has its promise');
      this.pending = null;
      pending.reject(err);
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
    this.signal.removeEventListener('abort', this.onAbort);
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
