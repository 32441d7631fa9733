/**
 * The shared replay store: a stream written by one proxy instance can be read through any other.
 *
 * Keys per stream (`P` = keyPrefix; `{id}` is a hash tag, so one stream's keys share a Redis
 * Cluster slot and may go in one pipeline/transaction):
 *   P stream:{id}        Redis Stream; the frames appended in one tick are one entry `0-N`, N the
 *                        last seq in it, with fields `<seq>` = frame text, so XRANGE/XREAD from
 *                        `0-<after+1>` find every frame after `after`. The end marker is entry `1-0` (it
 *                        sorts after every `0-N`, so it wakes blocked readers and comes last in a
 *                        range) with fields `end` = ended | lost | overflow, `last` = last stored seq.
 *   P stream:{id}:meta   hash {owner, model, createdAt, state}
 *   P stream:{id}:lease  '1' PX leaseMs, refreshed by the writing instance while the log is live
 * Expiry: maxStreamDurationMs + retentionMs from the start; retentionMs from finish/abandon (the
 * stream key 1 s later than the meta, so a reader never finds the meta without the frames).
 *
 * Writes are fire-and-forget on one connection, so they reach Redis in order, and batched: the
 * frames every live log appended during one tick go in one pipeline, one XADD per log (a pipeline
 * and an XADD per frame cost ~15× a normal stream's CPU: bench/formats.ts). Any failed write
 * turns the log into 'overflow'. Readers double-check: frames must be consecutive and reach the
 * marker's `last`, otherwise a write was lost and the reader is told 'overflow' at that point.
 *
 * A reader with nothing to read blocks in XREAD on a pooled connection (redis-pool.ts), at most
 * leaseMs at a time, then checks the lease: no lease and no end marker → 'lost' (the writer died).
 */
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { END_ID, fromEntries, type Entry } from './redis-entries.js';
import { BlockingPool, type BlockingConn } from './redis-pool.js';
import type { ReadResult, ReplayLog, ReplayStore, StoreBounds, StreamMeta } from './types.js';

/** A Redis URL, or a factory for the normal connection (blocking ones are its duplicates). */
export type RedisSource = string | (() => Redis);

export interface RedisReplayOptions {
  /** Connections for blocking XREAD (default 32); beyond that, waiting readers poll. */
  maxBlockingConnections?: number;
  /** Poll period when the pool is exhausted (default 100 ms). */
  pollMs?: number;
}

const STREAM_SLACK_MS = 1000;
/** The smallest SSE frame (`data: \n\n`): bounds the entry count a byte-bounded log can reach. */
const MIN_FRAME_BYTES = 8;

/**
 * Not the limiter's client (src/limits/redis-client.ts, 500 ms timeout, no offline queue): here
 * a write issued while (re)connecting is queued and sent in order, and a command timeout of 2 s
 * only catches a stalled server (a failed write → overflow; a failed read → the read rejects).
 */
const MAIN_OPTIONS: RedisOptions = {
  connectTimeout: 2000,
  commandTimeout: 2000,
  maxRetriesPerRequest: 1,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 1000),
};

interface Keys { stream: string; meta: string; lease: string }
interface Live {
  id: string;
  keys: Keys;
  openedAt: number;
  /** Last seq appended, stored or not. */
  lastSeq: number;
  /** Last seq sent to Redis. */
  stored: number;
  bytes: number;
  /** The stream key has been given its TTL (it is created by the first XADD, not by open). */
  keyed: boolean;
  /** Frames appended since the last write: `<seq>`, text, … (the next entry's fields). */
  pending: string[];
  overflowed: boolean;
  done: boolean;
}

const noop = () => {};
const keysOf = (prefix: string, id: string): Keys => {
  const s = `${prefix}stream:{${id}}`;
  return { stream: s, meta: `${s}:meta`, lease: `${s}:lease` };
};

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class RedisReplayStore implements ReplayStore {
  private readonly redis: Redis;
  private readonly pool: BlockingPool;
  private readonly live = new Set<Live>();
  private liveBytes = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly maxLen: number;
  private readonly pollMs: number;

  constructor(source: RedisSource, private readonly prefix: string, private readonly bounds: StoreBounds, opts: RedisReplayOptions = {}) {
    this.redis = typeof source === 'string' ? new Redis(source, MAIN_OPTIONS) : source();
    this.redis.on('error', noop); // failures surface as overflowed logs and rejected reads
    // Same address and options, but no commandTimeout (it would cut every BLOCK short);
    // blockingTimeout arms ioredis' own deadline (BLOCK + 100 ms) against a silently dead socket.
    this.pool = new BlockingPool(
      () => this.redis.duplicate({ commandTimeout: undefined, blockingTimeout: bounds.leaseMs + 1000, maxRetriesPerRequest: 0 }),
      opts.maxBlockingConnections ?? 32, this.redis);
    this.maxLen = Math.ceil(bounds.maxStreamBytes / MIN_FRAME_BYTES) + 1;
    this.pollMs = opts.pollMs ?? 100;
    // One timer and one pipeline per tick for all live logs of this instance.
    this.timer = setInterval(() => this.renew(), Math.max(10, Math.floor(bounds.leaseMs / 3)));
    this.timer.unref();
  }

  open(meta: StreamMeta): ReplayLog | null {
    const b = this.bounds;
    if (this.closed || this.live.size >= b.maxStreams || this.liveBytes >= b.maxTotalBytes) return null;
    const keys = keysOf(this.prefix, meta.id);
    const log: Live = { id: meta.id, keys, openedAt: Date.now(), lastSeq: 0, stored: 0, bytes: 0, keyed: false, pending: [], overflowed: false, done: false };
    this.live.add(log);
    // The lease before the meta: a reader that finds the meta finds the lease.
    const ready = this.write(log, this.redis.pipeline()
      .set(keys.lease, '1', 'PX', b.leaseMs)
      .hset(keys.meta, { owner: meta.owner, model: meta.model, createdAt: String(meta.createdAt), state: 'live' })
      .pexpire(keys.meta, b.maxStreamDurationMs + b.retentionMs));
    return {
      id: meta.id,
      ready,
      append: (seq, text) => this.append(log, seq, text),
      finish: () => this.end(log, 'ended'),
      abandon: () => this.end(log, 'lost'),
    };
  }

  async meta(id: string): Promise<StreamMeta | null> {
    const h = await this.redis.hgetall(keysOf(this.prefix, id).meta);
    if (!h || h.owner === undefined) return null;
    return { id, owner: h.owner, model: h.model ?? '', createdAt: Number(h.createdAt) };
  }

  async read(id: string, after: number, opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReadResult | null> {
    const from = Math.max(0, Math.floor(after));
    const max = Math.max(1, Math.floor(opts.max));
    const keys = keysOf(this.prefix, id);
    const deadline = Date.now() + opts.waitMs;
    let r = await this.check(keys, from, max);
    while (r && !r.frames.length && r.state === 'live' && !opts.signal?.aborted && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      // At most leaseMs per wait, so a dead writer is noticed within ~leaseMs even in a long wait.
      const entries = await this.wait(keys.stream, from, max, Math.min(left, this.bounds.leaseMs), opts.signal);
      if (entries.length) return fromEntries(entries, from, max, 'live', true);
      if (opts.signal?.aborted || this.closed) break;
      r = await this.check(keys, from, max);
    }
    return r;
  }

  /** Resolves once every write issued so far has been processed (one connection: replies come in order). */
  async flush(): Promise<void> {
    await this.redis.ping();
  }

  stats(): { streams: number; bytes: number } {
    return { streams: this.live.size, bytes: this.liveBytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.live.clear(); // no more lease refreshes: other instances see these logs 'lost' within leaseMs
    this.liveBytes = 0;
    this.pool.close();
    // QUIT is sent after the writes already queued, so those still land; bounded in case Redis is gone.
    await Promise.race([this.redis.quit().catch(noop), sleep(2000)]);
    this.redis.disconnect();
  }

  private append(log: Live, seq: number, text: string): boolean {
    if (seq !== log.lastSeq + 1) throw new RangeError(`replay log ${log.id}: seq ${seq} after ${log.lastSeq}`);
    log.lastSeq = seq;
    if (log.done || log.overflowed) return false;
    const n = Buffer.byteLength(text);
    if (log.bytes + n > this.bounds.maxStreamBytes || this.liveBytes + n > this.bounds.maxTotalBytes) {
      this.overflow(log);
      return false;
    }
    log.bytes += n;
    this.liveBytes += n;
    log.stored = seq;
    log.pending.push(String(seq), text);
    if (log.pending.length === 2) this.unwritten.push(log);
    if (this.flushing === null) this.flushing = setImmediate(this.flushAll);
    return true;
  }

  /** Logs with frames not yet written, and the tick's write of them. */
  private readonly unwritten: Live[] = [];
  private flushing: NodeJS.Immediate | null = null;

  /** One pipeline for the tick's frames: one entry per log (its fields every frame it appended). */
  private readonly flushAll = (): void => {
    this.flushing = null;
    const logs = this.unwritten.splice(0);
    for (const log of logs) this.writePending(log);
  };

  /** Write `log`'s pending frames as one entry (before its end marker, which must come after them). */
  private writePending(log: Live): void {
    const fields = log.pending;
    if (fields.length === 0) return;
    log.pending = [];
    const last = fields[fields.length - 2]!;
    void this.write(log, this.withTtl(log, this.redis.pipeline().xadd(log.keys.stream, 'MAXLEN', '~', this.maxLen, `0-${last}`, ...fields)));
  }

  /** Adds the stream key's TTL after the XADD that may have created it (once). */
  private withTtl(log: Live, p: ChainableCommander): ChainableCommander {
    if (log.keyed) return p;
    log.keyed = true;
    const b = this.bounds;
    return p.pexpire(log.keys.stream, b.maxStreamDurationMs + b.retentionMs + STREAM_SLACK_MS);
  }

  /** Send a pipeline; any failed command overflows the log (later frames would leave a gap). True when all landed. */
  private write(log: Live, p: ChainableCommander): Promise<boolean> {
    return p.exec().then((res) => {
      const ok = !!res && !res.some(([err]) => err);
      if (!ok) this.overflow(log);
      return ok;
    }, () => {
      this.overflow(log);
      return false;
    });
  }

  private overflow(log: Live): void {
    if (log.overflowed) return;
    log.overflowed = true;
    this.writePending(log);
    if (log.done) return; // the marker is written; readers find the missing frames via `last`
    this.redis.pipeline()
      .xadd(log.keys.stream, END_ID, 'end', 'overflow', 'last', String(log.stored))
      .hset(log.keys.meta, 'state', 'overflow')
      .exec().catch(noop);
    this.withTtl(log, this.redis.pipeline()).exec().catch(noop);
  }

  private end(log: Live, how: 'ended' | 'lost'): void {
    if (log.done || this.closed) return;
    this.writePending(log);
    log.done = true;
    this.live.delete(log);
    this.liveBytes -= log.bytes;
    const state = log.overflowed ? 'overflow' : how;
    const { stream, meta, lease } = log.keys;
    // The marker before the lease goes (see check()). After an overflow the marker exists and
    // this XADD fails harmlessly; the rest of the pipeline still runs.
    this.redis.pipeline()
      .xadd(stream, END_ID, 'end', state, 'last', String(log.stored))
      .hset(meta, 'state', state)
      .pexpire(stream, this.bounds.retentionMs + STREAM_SLACK_MS)
      .pexpire(meta, this.bounds.retentionMs)
      .del(lease)
      .exec().catch(noop);
  }

  private renew(): void {
    if (!this.live.size || this.closed) return;
    const now = Date.now();
    const p = this.redis.pipeline();
    for (const log of [...this.live]) {
      if (now - log.openedAt >= this.bounds.maxStreamDurationMs) this.end(log, 'lost'); // never ended: don't leak
      else p.set(log.keys.lease, '1', 'PX', this.bounds.leaseMs); // SET, not PEXPIRE: survives a Redis restart
    }
    if (p.length) p.exec().catch(noop);
  }

  /**
   * One round trip: meta state (absent → unknown/expired), lease, frames. Order matters: a
   * writer sets the end marker before it deletes the lease, so a reader that finds no lease
   * and then reads the stream sees the marker if there is one.
   */
  private async check(keys: Keys, after: number, max: number): Promise<ReadResult | null> {
    const res = await this.redis.pipeline()
      .hget(keys.meta, 'state')
      .exists(keys.lease)
      .xrange(keys.stream, `0-${after + 1}`, '+', 'COUNT', max + 1)
      .exec();
    if (!res) throw new Error('replay store: Redis pipeline aborted');
    for (const [err] of res) if (err) throw err;
    const state = res[0]![1] as string | null;
    if (state === null) return null;
    return fromEntries(res[2]![1] as Entry[], after, max, state, res[1]![1] === 1);
  }

  /** Entries after `after`, waiting up to `ms` in a blocking XREAD; [] on timeout, abort or error. */
  private async wait(stream: string, after: number, max: number, ms: number, signal?: AbortSignal): Promise<Entry[]> {
    const conn = this.pool.acquire();
    if (!conn) {
      await sleep(Math.min(ms, this.pollMs), signal); // pool exhausted: the caller's next check() polls
      return [];
    }
    const done = this.xread(conn, stream, after, max, ms);
    if (!signal) return done;
    return new Promise((resolve) => {
      const onAbort = () => {
        this.pool.unblock(conn); // frees the connection now instead of at the end of its BLOCK
        resolve([]);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort(); // aborted since the caller looked
      void done.then((entries) => {
        signal.removeEventListener('abort', onAbort);
        resolve(entries);
      });
    });
  }

  private async xread(conn: BlockingConn, stream: string, after: number, max: number, ms: number): Promise<Entry[]> {
    try {
      // BLOCK 0 would mean forever: never send it.
      const res = await conn.redis.xread('COUNT', max + 1, 'BLOCK', Math.max(1, Math.ceil(ms)), 'STREAMS', stream, `0-${after}`);
      this.pool.release(conn);
      return ((res as unknown as [string, Entry[]][] | null)?.[0]?.[1]) ?? [];
    } catch {
      this.pool.release(conn, true);
      await sleep(this.pollMs); // a broken connection must not turn the caller's loop into a spin
      return [];
    }
  }
}
