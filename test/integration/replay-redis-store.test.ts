/**
 * The Redis replay store (src/streams/redis-store.ts) against a real redis-server. Two store
 * instances on one prefix stand for two proxy instances: one writes, the other reads. Waits are
 * the store's own (bounded by waitMs) or bounded polls of an effect; no sleep is an assertion.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { newStreamId } from '../../src/streams/id.js';
import { RedisReplayStore, type RedisReplayOptions } from '../../src/streams/redis-store.js';
import type { ReplayLog, StoreBounds, StreamMeta } from '../../src/streams/types.js';
import { startRedis, type RedisSrv } from '../helpers/services.js';

const BOUNDS: StoreBounds = {
  maxStreamBytes: 10_000, maxStreams: 10, maxTotalBytes: 100_000,
  retentionMs: 60_000, leaseMs: 2000, maxStreamDurationMs: 600_000,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const metaOf = (id = newStreamId()): StreamMeta => ({ id, owner: 'demo', model: 'sim-echo', createdAt: 1_700_000_000_123 });
const frame = (id: string, seq: number) => `id: ${id}:${seq}\ndata: {"n":${seq},"t":"é"}\n\n`;

describe('replay redis store (real redis-server)', function () {
  this.timeout(30_000);
  let srv: RedisSrv;
  let admin: Redis;
  let prefixSeq = 0;
  let prefix = '';
  const stores: RedisReplayStore[] = [];
  const store = (over: Partial<StoreBounds> = {}, opts?: RedisReplayOptions) => {
    const s = new RedisReplayStore(srv.url, prefix, { ...BOUNDS, ...over }, opts);
    stores.push(s);
    return s;
  };
  /** Open a log and wait until other instances can see it. */
  const open = async (s: RedisReplayStore, meta = metaOf()): Promise<ReplayLog> => {
    const log = s.open(meta);
    assert.ok(log, 'open');
    assert.equal(await log.ready, true);
    return log;
  };
  /** Clients currently blocked in XREAD on the server (CLIENT LIST flag `b`). */
  const blockedReaders = async () =>
    String(await admin.client('LIST')).split('\n').filter((l) => /cmd=xread/.test(l) && /flags=\S*b/.test(l)).length;
  const key = (id: string, suffix = '') => `${prefix}stream:{${id}}${suffix}`;

  before(async () => {
    srv = await startRedis();
    admin = new Redis(srv.url);
    admin.on('error', () => {});
  });
  beforeEach(() => {
    prefix = `test${process.pid}-${++prefixSeq}:`;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  after(async () => {
    admin?.disconnect();
    await srv?.stop();
  });

  it('round trip: meta, frames by seq, max, the end marker, and retention TTLs', async () => {
    const a = store();
    const log = await open(a);
    for (let s = 1; s <= 4; s++) assert.equal(log.append(s, frame(log.id, s)), true);
    log.append(5, 'data: [DONE]\n\n');
    log.finish();
    assert.deepEqual(await a.meta(log.id), metaOf(log.id));
    const all = await a.read(log.id, 0, { max: 100, waitMs: 0 });
    assert.deepEqual(all?.frames.map((f) => f.seq), [1, 2, 3, 4, 5]);
    assert.equal(all?.frames[1]?.text, frame(log.id, 2));
    assert.equal(all?.state, 'ended');
    assert.deepEqual(await a.read(log.id, 1, { max: 2, waitMs: 0 }), {
      frames: [{ seq: 2, text: frame(log.id, 2) }, { seq: 3, text: frame(log.id, 3) }], state: 'live' });
    assert.deepEqual((await a.read(log.id, 1, { max: 4, waitMs: 0 }))?.state, 'ended');
    assert.deepEqual(await a.read(log.id, 5, { max: 4, waitMs: 5000 }), { frames: [], state: 'ended' });
    assert.equal(await admin.exists(key(log.id, ':lease')), 0);
    for (const k of [key(log.id), key(log.id, ':meta')]) {
      const ttl = await admin.pttl(k);
      assert.ok(ttl > 0 && ttl <= BOUNDS.retentionMs + 1000, `${k} TTL ${ttl}`);
    }
    assert.deepEqual(a.stats(), { streams: 0, bytes: 0 });
  });

  it('unknown ids answer null', async () => {
    const a = store();
    assert.equal(await a.meta(newStreamId()), null);
    assert.equal(await a.read(newStreamId(), 0, { max: 10, waitMs: 2000 }), null);
  });

  it('live keys expire at maxStreamDurationMs + retentionMs, and a log open too long is marked lost', async () => {
    const a = store({ maxStreamDurationMs: 300, retentionMs: 60_000, leaseMs: 150 });
    const log = await open(a);
    log.append(1, 'x');
    const b = store();
    await until(async () => (await admin.pttl(key(log.id))) > 0, 'the stream key TTL');
    assert.ok((await admin.pttl(key(log.id, ':meta'))) <= 60_300);
    const r = await b.read(log.id, 1, { max: 10, waitMs: 10_000 });
    assert.deepEqual(r, { frames: [], state: 'lost' });
    assert.equal(a.stats().streams, 0);
    assert.equal(log.append(2, 'y'), false);
  });

  it('a second instance follows a live stream: its blocking read is woken by appends and by the end', async () => {
    const a = store();
    const b = store();
    const log = await open(a);
    const started = Date.now();
    const first = b.read(log.id, 0, { max: 10, waitMs: 10_000 });
    await until(async () => (await blockedReaders()) === 1, 'the reader to block in XREAD');
    log.append(1, frame(log.id, 1));
    assert.deepEqual(await first, { frames: [{ seq: 1, text: frame(log.id, 1) }], state: 'live' });
    const second = b.read(log.id, 1, { max: 10, waitMs: 10_000 });
    await until(async () => (await blockedReaders()) === 1, 'the reader to block again');
    log.append(2, 'data: [DONE]\n\n');
    log.finish();
    const r = await second;
    assert.deepEqual(r?.frames.map((f) => f.seq), [2]);
    // The wake-up may come from the frame alone (state live) or with the marker (ended); either way the next read ends.
    assert.deepEqual(await b.read(log.id, 2, { max: 10, waitMs: 10_000 }), { frames: [], state: 'ended' });
    assert.ok(Date.now() - started < 10_000, 'woken, not timed out');
  });

  it('an abort ends a blocked read at once and frees its connection (CLIENT UNBLOCK)', async () => {
    const a = store();
    // One XREAD BLOCKs for the whole wait; one pooled connection, so the next wait needs it back.
    const b = store({ leaseMs: 60_000 }, { maxBlockingConnections: 1 });
    const log = await open(a);
    const ac = new AbortController();
    const waiting = b.read(log.id, 0, { max: 10, waitMs: 20_000, signal: ac.signal });
    await until(async () => (await blockedReaders()) === 1, 'the reader to block');
    ac.abort();
    assert.deepEqual(await waiting, { frames: [], state: 'live' });
    await until(async () => (await blockedReaders()) === 0, 'the XREAD to be unblocked', 5000);
    const again = b.read(log.id, 0, { max: 10, waitMs: 20_000 });
    await until(async () => (await blockedReaders()) === 1, 'the freed connection to serve the next wait');
    log.append(1, 'x');
    assert.deepEqual(await again, { frames: [{ seq: 1, text: 'x' }], state: 'live' });
  });

  it('with the blocking pool exhausted, readers poll and are still served', async () => {
    const a = store();
    const b = store({}, { maxBlockingConnections: 1, pollMs: 20 });
    const log = await open(a);
    const readers = [0, 1, 2].map(() => b.read(log.id, 0, { max: 10, waitMs: 10_000 }));
    await until(async () => (await blockedReaders()) === 1, 'one reader to block');
    log.append(1, 'x');
    for (const r of await Promise.all(readers)) assert.deepEqual(r, { frames: [{ seq: 1, text: 'x' }], state: 'live' });
  });

  it('a writer that dies (no lease refresh, no end) is reported lost, never hangs a reader', async () => {
    const a = store({ leaseMs: 300 });
    const b = store({ leaseMs: 300 });
    const log = await open(a);
    log.append(1, 'x');
    await a.flush(); // the writes landed: what another instance reads now is deterministic
    assert.deepEqual(await b.read(log.id, 0, { max: 10, waitMs: 0 }), { frames: [{ seq: 1, text: 'x' }], state: 'live' });
    await a.close(); // the killed instance: its lease is no longer refreshed
    const r = await b.read(log.id, 1, { max: 10, waitMs: 20_000 });
    assert.deepEqual(r, { frames: [], state: 'lost' });
    assert.deepEqual(await admin.xrange(key(log.id), '1-0', '1-0'), [], 'told by the lease, not by an end marker');
    assert.deepEqual(await b.read(log.id, 0, { max: 10, waitMs: 0 }), { frames: [{ seq: 1, text: 'x' }], state: 'lost' });
  });

  it('abandon marks lost at once, for waiting readers too', async () => {
    const a = store();
    const b = store();
    const log = await open(a);
    log.append(1, 'x');
    const waiting = b.read(log.id, 1, { max: 10, waitMs: 10_000 });
    await until(async () => (await blockedReaders()) === 1, 'the reader to block');
    log.abandon();
    assert.deepEqual(await waiting, { frames: [], state: 'lost' });
  });

  it('the stream is gone after retention', async () => {
    const a = store({ retentionMs: 200 });
    const log = await open(a);
    log.append(1, 'x');
    log.finish();
    assert.equal((await a.read(log.id, 0, { max: 10, waitMs: 0 }))?.state, 'ended');
    await until(async () => (await a.meta(log.id)) === null, 'the meta to expire');
    assert.equal(await a.read(log.id, 0, { max: 10, waitMs: 0 }), null);
    await until(async () => (await admin.exists(key(log.id), key(log.id, ':meta'), key(log.id, ':lease'))) === 0, 'every key to expire');
  });

  it('overflow: at the per-stream bound, and at the instance total; bounded live logs', async () => {
    const a = store({ maxStreamBytes: 100, maxTotalBytes: 150, maxStreams: 2 });
    const b = store();
    const log = await open(a);
    assert.equal(log.append(1, 'x'.repeat(60)), true);
    const waiting = b.read(log.id, 1, { max: 10, waitMs: 10_000 });
    assert.equal(log.append(2, 'x'.repeat(60)), false);
    assert.deepEqual(await waiting, { frames: [], state: 'overflow' });
    assert.equal(log.append(3, 'x'), false);
    const other = await open(a);
    assert.equal(a.open(metaOf()), null, 'maxStreams');
    assert.equal(other.append(1, 'y'.repeat(91)), false, 'instance total: 60 + 91 > 150');
    log.append(4, 'data: [DONE]\n\n');
    log.finish();
    await a.flush();
    const r = await b.read(log.id, 0, { max: 10, waitMs: 0 });
    assert.deepEqual(r?.frames.map((f) => f.seq), [1]);
    assert.equal(r?.state, 'overflow', 'finish after an overflow keeps it');
    assert.deepEqual(a.stats(), { streams: 1, bytes: 0 });
  });

  it('readers detect lost writes: a gap between frames, or frames missing before the end marker', async () => {
    const a = store();
    const log = await open(a);
    // One tick each: one entry each (frames of one tick share an entry, next test).
    for (let s = 1; s <= 4; s++) {
      log.append(s, `f${s}`);
      await new Promise((r) => setImmediate(r));
    }
    log.finish();
    await until(async () => (await admin.exists(key(log.id))) === 1 && (await admin.xlen(key(log.id))) === 5, 'the writes');
    await admin.xdel(key(log.id), '0-2', '0-4');
    assert.deepEqual(await a.read(log.id, 0, { max: 10, waitMs: 0 }), { frames: [{ seq: 1, text: 'f1' }], state: 'overflow' });
    assert.deepEqual(await a.read(log.id, 2, { max: 10, waitMs: 0 }), { frames: [{ seq: 3, text: 'f3' }], state: 'overflow' });
  });

  it('frames appended in one tick are one entry, read back from any position', async () => {
    const a = store();
    const log = await open(a);
    for (let s = 1; s <= 5; s++) log.append(s, `f${s}`);
    await new Promise((r) => setImmediate(r));
    for (let s = 6; s <= 7; s++) log.append(s, `f${s}`);
    log.finish();
    await until(async () => (await admin.xlen(key(log.id))) === 3, 'two entries and the end marker');
    for (let after = 0; after <= 7; after++) {
      const want = Array.from({ length: 7 - after }, (_, k) => ({ seq: after + k + 1, text: `f${after + k + 1}` }));
      assert.deepEqual(await a.read(log.id, after, { max: 10, waitMs: 0 }), { frames: want, state: 'ended' }, `after ${after}`);
    }
    assert.deepEqual(await a.read(log.id, 1, { max: 2, waitMs: 0 }), { frames: [{ seq: 2, text: 'f2' }, { seq: 3, text: 'f3' }], state: 'live' });
  });

  it('a failed Redis write turns the log into overflow (the live caller is unaffected)', async () => {
    let main: Redis | undefined;
    const a = new RedisReplayStore(() => (main = new Redis(srv.url)), prefix, BOUNDS);
    stores.push(a);
    const log = await open(a);
    assert.equal(log.append(1, 'x'), true);
    main!.disconnect(); // every later write fails
    let seq = 1;
    await until(async () => !log.append(++seq, 'y'), 'an append to be refused');
    assert.ok(seq > 1);
    const unseen = a.open(metaOf());
    assert.equal(await unseen?.ready, false, 'a log whose meta could not be written says so');
  });
});
