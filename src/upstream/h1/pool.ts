/**
 * Idle keep-alive connections per origin, for the HTTP/1.1 upstream client (src/upstream/h1/).
 * LIFO, like the `node:http` agent we used before: the hottest connections stay busy and idle
 * ones age out. One sweep timer for the whole pool instead of a timer per released connection.
 */
import type { Socket } from 'node:net';

/** A connection to an upstream origin. */
export interface Conn {
  readonly socket: Socket;
  readonly key: string;
  /** Has carried a response before: a peer that closed it while idle makes the next write fail. */
  reused: boolean;
  /** When it went idle (ms, monotonic) and how long it may stay so. */
  idleSince: number;
  idleLimitMs: number;
}

/** Options for {@link ConnPool}. */
export interface ConnPoolOptions {
  /** Idle connections kept per origin beyond which released ones are closed. */
  maxFreePerOrigin: number;
  /** How long an idle connection is kept when the server does not say (`Keep-Alive: timeout`). */
  idleMs: number;
  now(): number;
}

/** The pool of idle connections (of the transport's own connection type). */
export class ConnPool<C extends Conn = Conn> {
  private readonly free = new Map<string, C[]>();
  private sweeper: NodeJS.Timeout | null = null;
  private idleCount = 0;

  constructor(private readonly opts: ConnPoolOptions) {}

  /** The most recently released live connection to `key`, or null. */
  acquire(key: string): C | null {
    const list = this.free.get(key);
    if (list === undefined) return null;
    const now = this.opts.now();
    while (list.length > 0) {
      const c = list.pop()!;
      this.idleCount--;
      if (!c.socket.destroyed && c.socket.writable && now - c.idleSince < c.idleLimitMs) {
        c.socket.ref();
        c.reused = true;
        return c;
      }
      c.socket.destroy();
    }
    return null;
  }

  /**
   * Keep `conn` for the next request to its origin. `serverTimeoutMs` is the server's own idle
   * limit (`Keep-Alive: timeout=N`): the connection is dropped a second before, so the proxy does
   * not write into a connection the server is closing (RFC 9112 §9.6 "retrying requests").
   */
  release(conn: C, serverTimeoutMs: number | null): void {
    const limit = serverTimeoutMs === null ? this.opts.idleMs : Math.min(this.opts.idleMs, serverTimeoutMs - 1_000);
    let list = this.free.get(conn.key);
    if (list === undefined) this.free.set(conn.key, (list = []));
    if (limit <= 0 || list.length >= this.opts.maxFreePerOrigin || conn.socket.destroyed) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = this.opts.now();
    conn.idleLimitMs = limit;
    // An idle connection does not keep the process alive (as in Node's agent).
    conn.socket.unref();
    if (conn.socket.isPaused()) conn.socket.resume();
    list.push(conn);
    this.idleCount++;
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), 1_000);
      this.sweeper.unref();
    }
  }

  /** An idle connection closed or misbehaved: forget it. */
  drop(conn: C): void {
    conn.socket.destroy();
    const list = this.free.get(conn.key);
    const i = list === undefined ? -1 : list.indexOf(conn);
    if (list !== undefined && i >= 0) {
      list.splice(i, 1);
      this.idleCount--;
    }
  }

  /** Close every idle connection. */
  close(): void {
    for (const list of this.free.values()) for (const c of list) c.socket.destroy();
    this.free.clear();
    this.idleCount = 0;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private sweep(): void {
    const now = this.opts.now();
    for (const [key, list] of this.free) {
      const kept: C[] = [];
      for (const c of list) {
        if (!c.socket.destroyed && now - c.idleSince < c.idleLimitMs) kept.push(c);
        else c.socket.destroy();
      }
      this.idleCount -= list.length - kept.length;
      if (kept.length === 0) this.free.delete(key);
      else this.free.set(key, kept);
    }
    if (this.idleCount === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
