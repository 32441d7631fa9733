/**
 * The in-memory replay store (src/streams/memory-store.ts): no sockets, no sleeps. Time-based
 * expiry runs on a ManualClock; waits are bounded by their own waitMs and resolved by events.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.js';
import { isStreamId, newStreamId } from '../../src/streams/id.js';
import { MemoryReplayStore } from '../../src/streams/memory-store.js';
import type { ReplayLog, StoreBounds, StreamMeta } from '../../src/streams/types.js';

const BOUNDS: StoreBounds = {
  maxStreamBytes: 1000, maxStreams: 3, maxTotalBytes: 2500,
  retentionMs: 60_000, leaseMs: 5000, maxStreamDurationMs: 600_000,
};
const frame = (id: string, seq: number, data = `{"n":${seq}}`) => `id: ${id}:${seq}\ndata: ${data}\n\n`;
const metaOf = (id = newStreamId()): StreamMeta => ({ id, owner: 'demo', model: 'sim-echo', createdAt: 1_700_000_000_000 });

describe('replay memory store', () => {
  let clock: ManualClock;
  let store: MemoryReplayStore;
  const make = (over: Partial<StoreBounds> = {}) => {
    store = new MemoryReplayStore({ ...BOUNDS, ...over }, clock);
    return store;
  };
  const open = (meta = metaOf()): ReplayLog => {
    const log = store.open(meta);
    assert.ok(log, 'open');
    return log;
  };
  beforeEach(() => {
    clock = new ManualClock();
    make();
  });
  afterEach(() => store.close());

  it('stream ids are 128-bit base64url with a strict format check', () => {
    const a = newStreamId();
    assert.match(a, /^s_[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(a.slice(2), 'base64url').length, 16);
    assert.notEqual(a, newStreamId());
    for (let i = 0; i < 200; i++) assert.equal(isStreamId(newStreamId()), true);
    for (const bad of [undefined, '', 's_', `${a}x`, a.slice(0, -1), `x_${a.slice(2)}`, `s_${'A'.repeat(21)}B`, `s_${'A'.repeat(21)}/`, `s_{${'A'.repeat(20)}}`]) {
      assert.equal(isStreamId(bad), false, String(bad));
    }
  });

  it('returns frames in order after a seq, at most max, and the end state only at the end', async () => {
    const log = open();
    assert.equal(await log.ready, true);
    for (let s = 1; s <= 5; s++) assert.equal(log.append(s, frame(log.id, s)), true);
    log.append(6, 'data: [DONE]\n\n');
    log.finish();
    assert.deepEqual(await store.meta(log.id), metaOf(log.id));
    const all = await store.read(log.id, 0, { max: 100, waitMs: 0 });
    assert.deepEqual(all?.frames.map((f) => f.seq), [1, 2, 3, 4, 5, 6]);
    assert.equal(all?.frames[2]?.text, frame(log.id, 3));
    assert.equal(all?.state, 'ended');
    const mid = await store.read(log.id, 2, { max: 2, waitMs: 0 });
    assert.deepEqual(mid, { frames: [{ seq: 3, text: frame(log.id, 3) }, { seq: 4, text: frame(log.id, 4) }], state: 'live' });
    assert.deepEqual((await store.read(log.id, 4, { max: 2, waitMs: 0 }))?.state, 'ended');
    assert.deepEqual(await store.read(log.id, 6, { max: 2, waitMs: 1000 }), { frames: [], state: 'ended' });
  });

  it('answers null for an unknown stream and rejects a seq out of order', async () => {
    assert.equal(await store.read(newStreamId(), 0, { max: 10, waitMs: 1000 }), null);
    assert.equal(await store.meta(newStreamId()), null);
    const log = open();
    log.append(1, 'a');
    assert.throws(() => log.append(3, 'c'), RangeError);
    assert.throws(() => log.append(1, 'a'), RangeError);
  });

  it('a waiting reader is woken by an append, and by finish', async () => {
    const log = open();
    const started = Date.now();
    const waiting = store.read(log.id, 0, { max: 10, waitMs: 10_000 });
    log.append(1, 'one');
    assert.deepEqual(await waiting, { frames: [{ seq: 1, text: 'one' }], state: 'live' });
    const waitingEnd = store.read(log.id, 1, { max: 10, waitMs: 10_000 });
    log.finish();
    assert.deepEqual(await waitingEnd, { frames: [], state: 'ended' });
    assert.ok(Date.now() - started < 5000, 'woken, not timed out');
  });

  it('a reader ahead of the log waits on until a frame after its seq comes', async () => {
    const log = open();
    const waiting = store.read(log.id, 2, { max: 10, waitMs: 10_000 });
    log.append(1, 'a');
    log.append(2, 'b');
    await Promise.resolve();
    log.append(3, 'c');
    assert.deepEqual(await waiting, { frames: [{ seq: 3, text: 'c' }], state: 'live' });
  });

  it('a wait times out empty and live, and an abort ends it with what there is', async () => {
    const log = open();
    assert.deepEqual(await store.read(log.id, 0, { max: 10, waitMs: 20 }), { frames: [], state: 'live' });
    const ac = new AbortController();
    const waiting = store.read(log.id, 0, { max: 10, waitMs: 10_000, signal: ac.signal });
    ac.abort();
    assert.deepEqual(await waiting, { frames: [], state: 'live' });
    ac.abort();
    assert.deepEqual(await store.read(log.id, 0, { max: 10, waitMs: 10_000, signal: ac.signal }), { frames: [], state: 'live' });
  });

  it('many concurrent readers of one stream all get the same frames', async () => {
    const log = open();
    const readers = Array.from({ length: 50 }, () => store.read(log.id, 0, { max: 10, waitMs: 10_000 }));
    log.append(1, 'x');
    log.append(2, 'y'); // woken readers resume after this synchronous code: they see both
    for (const r of await Promise.all(readers)) assert.deepEqual(r?.frames.map((f) => f.text), ['x', 'y']);
    const followers = Array.from({ length: 50 }, () => store.read(log.id, 2, { max: 10, waitMs: 10_000 }));
    log.append(3, 'z');
    log.finish();
    for (const r of await Promise.all(followers)) assert.deepEqual(r, { frames: [{ seq: 3, text: 'z' }], state: 'ended' });
  });

  it('overflows at the per-stream byte bound: later appends dropped, readers told overflow', async () => {
    const log = open();
    const big = 'x'.repeat(400);
    assert.equal(log.append(1, big), true);
    assert.equal(log.append(2, big), true);
    const waiting = store.read(log.id, 2, { max: 10, waitMs: 10_000 });
    assert.equal(log.append(3, big), false); // 1200 > 1000
    assert.deepEqual(await waiting, { frames: [], state: 'overflow' });
    assert.equal(log.append(4, 'tiny'), false, 'nothing after the first dropped frame');
    log.append(5, 'data: [DONE]\n\n');
    log.finish();
    const r = await store.read(log.id, 0, { max: 10, waitMs: 0 });
    assert.deepEqual(r?.frames.map((f) => f.seq), [1, 2]);
    assert.equal(r?.state, 'overflow');
    assert.equal(store.stats().bytes, 800);
  });

  it('overflows at the total bytes bound and refuses new logs once it is reached', async () => {
    const a = open();
    const b = open();
    assert.equal(a.append(1, 'é'.repeat(450)), true); // bytes are UTF-8: 900
    assert.equal(b.append(1, 'x'.repeat(900)), true);
    const c = open();
    assert.equal(c.append(1, 'x'.repeat(701)), false); // 2501 in total; 701 alone is within the stream bound
    assert.equal((await store.read(c.id, 0, { max: 5, waitMs: 10_000 }))?.state, 'overflow');
    assert.equal(c.append(2, 'x'), false, 'an overflowed log stays overflowed');
    assert.equal(b.append(2, 'x'.repeat(100)), true, 'other logs go on');
    c.abandon();
    const d = open();
    assert.equal(d.append(1, 'x'.repeat(600)), true);
    assert.deepEqual(store.stats(), { streams: 3, bytes: 2500 });
    d.finish();
    assert.equal(store.stats().streams, 2);
    assert.equal(store.open(metaOf()), null, 'total bytes reached (retained logs hold memory too)');
  });

  it('bounds live logs (maxStreams); an ended log frees its slot', () => {
    const logs = [open(), open(), open()];
    assert.equal(store.open(metaOf()), null);
    logs[0]!.finish();
    assert.ok(store.open(metaOf()));
    assert.equal(store.stats().streams, 3);
  });

  it('frees memory when retention ends after finish or abandon', async () => {
    const a = open();
    const b = open();
    a.append(1, 'x'.repeat(100));
    b.append(1, 'y'.repeat(50));
    a.finish();
    clock.advance(30_000);
    b.abandon();
    assert.deepEqual(store.stats(), { streams: 0, bytes: 150 });
    clock.advance(30_000);
    assert.deepEqual(store.stats(), { streams: 0, bytes: 50 });
    assert.equal(await store.read(a.id, 0, { max: 1, waitMs: 0 }), null);
    assert.equal(await store.meta(a.id), null);
    assert.equal((await store.read(b.id, 0, { max: 5, waitMs: 0 }))?.state, 'lost');
    clock.advance(30_000);
    assert.deepEqual(store.stats(), { streams: 0, bytes: 0 });
    assert.equal(await store.meta(b.id), null);
    assert.equal(a.append(2, 'z'), false);
  });

  it('frees memory with no access at all (the sweeper timer, real clock)', async () => {
    const real = new MemoryReplayStore({ ...BOUNDS, retentionMs: 30 });
    try {
      const log = real.open(metaOf());
      assert.ok(log);
      log.append(1, 'x'.repeat(10));
      log.finish();
      // stats() would sweep by itself: look at the map to see the timer's work (bounded poll).
      const end = Date.now() + 5000;
      while ((real as unknown as { logs: Map<string, unknown> }).logs.size > 0) {
        if (Date.now() > end) assert.fail('the sweeper did not drop the expired log');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await real.close();
    }
  });

  it('abandon: readers at the tail are told lost, waiting ones at once', async () => {
    const log = open();
    log.append(1, 'a');
    const waiting = store.read(log.id, 1, { max: 10, waitMs: 10_000 });
    log.abandon();
    assert.deepEqual(await waiting, { frames: [], state: 'lost' });
    assert.deepEqual(await store.read(log.id, 0, { max: 10, waitMs: 0 }), { frames: [{ seq: 1, text: 'a' }], state: 'lost' });
    assert.equal(log.append(2, 'b'), false);
  });

  it('a log never finished is lost at maxStreamDurationMs and gone retentionMs later', async () => {
    const log = open();
    log.append(1, 'a');
    clock.advance(BOUNDS.maxStreamDurationMs);
    assert.equal(store.stats().streams, 0, 'no longer counts as live');
    assert.equal((await store.read(log.id, 1, { max: 5, waitMs: 10_000 }))?.state, 'lost');
    assert.equal(log.append(2, 'b'), false);
    clock.advance(BOUNDS.retentionMs);
    assert.deepEqual(store.stats(), { streams: 0, bytes: 0 });
    assert.equal(await store.meta(log.id), null);
  });

  it('close wakes waiting readers (null) and refuses new logs', async () => {
    const log = open();
    const waiting = store.read(log.id, 0, { max: 10, waitMs: 10_000 });
    await store.close();
    assert.equal(await waiting, null);
    assert.equal(store.open(metaOf()), null);
  });
});
