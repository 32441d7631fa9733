/**
 * Connections for blocking XREAD. A blocked connection serves nobody else until its command
 * returns, so each waiting reader borrows one from this small bounded pool; when it is
 * exhausted, the store falls back to polling on its normal connection.
 *
 * A reader that goes away (abort) should not keep its connection blocked for the rest of its
 * wait: the pool knows each connection's server-side id and sends `CLIENT UNBLOCK` for it from
 * the control (normal) connection, which makes the XREAD return at once.
 */
import type { Redis } from 'ioredis';

export interface BlockingConn {
  readonly redis: Redis;
  /** Server-side client id (CLIENT ID), learnt after each (re)connection; null until then. */
  clientId: number | null;
}

export class BlockingPool {
  private readonly idle: BlockingConn[] = [];
  private readonly all = new Set<BlockingConn>();
  private closed = false;

  constructor(
    /** Makes a new connection; called lazily, at most `max` times (minus those that broke). */
    private readonly make: () => Redis,
    private readonly max: number,
    /** Sends CLIENT UNBLOCK. */
    private readonly control: Redis,
  ) {}

  /** An idle connection, a new one, or null when `max` are busy. */
  acquire(): BlockingConn | null {
    if (this.closed) return null;
    const c = this.idle.pop();
    if (c) return c;
    if (this.all.size >= this.max) return null;
    const redis = this.make();
    const conn: BlockingConn = { redis, clientId: null };
    const learnId = () => {
      redis.client('ID').then((id) => { conn.clientId = Number(id); }, () => {});
    };
    // Asked now, CLIENT ID is queued ahead of the caller's XREAD, so even the first wait can be
    // unblocked; asked again after each reconnection (a new connection has a new id).
    learnId();
    let reconnecting = false;
    redis.on('error', () => {}); // reconnection failures surface as failed reads, not printed errors
    redis.on('close', () => { conn.clientId = null; reconnecting = true; });
    redis.on('ready', () => { if (reconnecting) learnId(); });
    this.all.add(conn);
    return conn;
  }

  /** Give a connection back once its command has settled; `broken` drops it instead. */
  release(c: BlockingConn, broken = false): void {
    if (this.closed || !this.all.has(c)) return;
    if (broken) {
      this.all.delete(c);
      c.redis.disconnect();
      return;
    }
    this.idle.push(c);
  }

  /** Make `c`'s blocked command return now (it answers as on timeout); best effort. */
  unblock(c: BlockingConn): void {
    if (c.clientId === null) return; // not known yet: the command ends on its own timeout
    this.control.client('UNBLOCK', c.clientId).catch(() => {});
  }

  /** Connections open (idle or busy). */
  get size(): number {
    return this.all.size;
  }

  close(): void {
    this.closed = true;
    for (const c of this.all) c.redis.disconnect();
    this.all.clear();
    this.idle.length = 0;
  }
}
