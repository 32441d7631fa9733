/**
 * The Redis store against a real redis-server (issue 4): two limiter instances (two ioredis
 * clients, one prefix) stand for two proxy processes. The two-process test through the app
 * comes with the app; everything here needs only `createRateLimiter` and a Redis URL.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ManualClock, systemClock } from '../../src/clock.js';
import { configSchema, type Config, type LimitsConfig } from '../../src/config/schema.js';
import { RateLimitError, ServiceUnavailableError } from '../../src/errors.js';
import { createRateLimiter, type AdmissionRequest, type RateLimiter } from '../../src/limits/limiter.js';
import { createMemoryStore } from '../../src/limits/memory-store.js';
import { createRedisClient, redisReady } from '../../src/limits/redis-client.js';
import { createRedisStore } from '../../src/limits/redis-store.js';
import type { AdmitInput, SettleInput } from '../../src/limits/store.js';
import { startRedis, type RedisSrv } from '../helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let prefixSeq = 0;
function config(rateLimit: Record<string, unknown> = {}): Config {
  return configSchema.parse({ rateLimit: { redisKeyPrefix: `test${process.pid}-${++prefixSeq}`, ...rateLimit } });
}
const request = (limits: LimitsConfig, over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  key: { name: 'demo', limits }, model: 'sim-echo', upstream: 'sim', estimatedTokens: 0, maxTokens: 0, ...over,
});
const outcome = (p: Promise<unknown>): Promise<'ok' | string> =>
  p.then(() => 'ok', (err: unknown) => (err instanceof RateLimitError ? err.type : err instanceof ServiceUnavailableError ? '503' : String(err)));

describe('redis limits (real redis-server)', function () {
  this.timeout(30_000);
  let srv: RedisSrv;
  const clients: Redis[] = [];
  const limiters: RateLimiter[] = [];

  async function client(): Promise<Redis> {
    const c = createRedisClient(srv.url);
    clients.push(c);
    assert.equal(await redisReady(c, 5000), true, 'redis ready');
    return c;
  }
  async function pair(cfg: Config, extra: Partial<Parameters<typeof createRateLimiter>[0]> = {}) {
    const make = async () => {
      const l = createRateLimiter({ config: cfg, clock: systemClock, redis: await client(), ...extra });
      limiters.push(l);
      return l;
    };
    return [await make(), await make()] as const;
  }

  before(async () => {
    srv = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  after(async () => {
    await srv?.stop();
  });

  describe('the Lua scripts', () => {
    it('compute exactly what the memory store computes (same times, same inputs)', async () => {
      const redis = await client();
      const clock = new ManualClock(1_700_000_000_000.25);
      const memory = createMemoryStore(clock);
      const remote = createRedisStore(redis, { prefix: `parity${process.pid}`, leaseMs: 600_000, now: () => clock.now() });
      const buckets = [
        { id: 'key:demo:requests', capacity: 7, cost: 1 },
        { id: 'key:demo:tokens', capacity: 20_000, cost: 1234 },
      ];
      const slots = [{ id: 'key:demo:slots', max: 3 }];
      const steps: Array<{ advance: number; op: 'admit' | 'settle'; delta?: number }> = [];
      for (let i = 0; i < 40; i++) {
        steps.push({ advance: (i * 7919) % 4000, op: 'admit' });
        if (i % 3 === 2) steps.push({ advance: 13, op: 'settle', delta: i % 2 ? -500 : 3000 });
      }
      let n = 0;
      const open: string[] = [];
      const decisions = new Set<boolean>();
      for (const step of steps) {
        clock.advance(step.advance);
        if (step.op === 'admit') {
          const input: AdmitInput = { buckets, slots, slotId: `s${++n}` };
          const [m, r] = [await memory.admit(input), await remote.admit(input)];
          assert.deepEqual(r, m, `admit ${n}`);
          decisions.add(m.admitted);
          if (m.admitted) open.push(input.slotId);
        } else if (open.length) {
          const input: SettleInput = {
            buckets: [{ id: 'key:demo:tokens', capacity: 20_000, delta: step.delta! }],
            slots: ['key:demo:slots'],
            slotId: open.shift()!,
          };
          assert.deepEqual(await remote.settle(input), await memory.settle(input), `settle ${input.slotId}`);
        }
      }
      assert.equal(decisions.size, 2, 'the run covers admissions and refusals');
      await remote.close();
    });

    it('keys carry the prefix and expire once the bucket is full again', async () => {
      const redis = await client();
      const store = createRedisStore(redis, { prefix: 'ttl', leaseMs: 5000 });
      await store.admit({ buckets: [{ id: 'key:demo:requests', capacity: 60, cost: 1 }], slots: [{ id: 'key:demo:slots', max: 1 }], slotId: 'a' });
      const rq = await redis.pttl('ttl:{rl}:key:demo:requests');
      assert.ok(rq > 1000 && rq <= 2000, `requests key TTL ${rq}`); // 1 s until full + 1 s margin
      const sl = await redis.pttl('ttl:{rl}:key:demo:slots');
      assert.ok(sl > 5000 && sl <= 6000, `slots key TTL ${sl}`);
      await store.settle({ buckets: [], slots: ['key:demo:slots'], slotId: 'a' });
      assert.equal(await redis.zcard('ttl:{rl}:key:demo:slots'), 0);
      await store.close();
    });
  });

  describe('two instances sharing one Redis', () => {
    it('100 admissions spread over both admit exactly rpm 30 (plus any refill while they ran)', async () => {
      const [a, b] = await pair(config());
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => outcome((i % 2 ? a : b).admit(request({ rpm: 30 })))),
      );
      const elapsedMs = performance.now() - started;
      const admitted = results.filter((r) => r === 'ok').length;
      // One request comes back every 2 s; more than ceil(elapsed / 2 s) extra would be a leak.
      const drift = Math.ceil(elapsedMs / 2000);
      assert.ok(admitted >= 30 && admitted <= 30 + drift, `admitted ${admitted} in ${elapsedMs.toFixed(0)} ms (drift ≤ ${drift})`);
      assert.deepEqual(new Set(results), new Set(['ok', 'requests']));
    });

    it('headers count down across instances', async () => {
      const [a, b] = await pair(config());
      const limits = { rpm: 5, tpm: 20_000 };
      const seen: number[] = [];
      const t0 = performance.now();
      for (const l of [a, b, a, b]) seen.push(Number((await l.admit(request(limits, { estimatedTokens: 50, maxTokens: 50 }))).headers['x-ratelimit-remaining-tokens']));
      // The bucket refills continuously (tpm/60000 per ms of Redis time): allow what the elapsed
      // time can have refilled, and no more.
      const drift = Math.ceil(((performance.now() - t0) * limits.tpm) / 60_000);
      [19_900, 19_800, 19_700, 19_600].forEach((want, i) => {
        assert.ok(seen[i]! >= want && seen[i]! <= want + drift, `remaining ${seen.join(',')} vs ${want} (+${drift} refill)`);
      });
      assert.ok(seen[0]! > seen[1]! && seen[1]! > seen[2]! && seen[2]! > seen[3]!, 'counts down across instances');
    });

    it('share concurrency slots, and a settle on one frees a slot for the other', async () => {
      const [a, b] = await pair(config());
      const limits = { maxConcurrent: 3 };
      const x = await a.admit(request(limits));
      await b.admit(request(limits));
      await a.admit(request(limits));
      assert.equal(await outcome(b.admit(request(limits))), 'concurrency');
      assert.equal(await outcome(a.admit(request(limits))), 'concurrency');
      x.settle(null);
      x.settle(null);
      await sleep(50); // settle is fire-and-forget
      assert.equal(await outcome(b.admit(request(limits))), 'ok');
      assert.equal(await outcome(b.admit(request(limits))), 'concurrency');
    });

    it('slots of an instance that died come back after the lease; a live instance keeps its own', async () => {
      const cfg = config({ concurrencyLeaseMs: 300 });
      const [a, b] = await pair(cfg);
      const limits = { maxConcurrent: 2 };
      await a.admit(request(limits));
      await b.admit(request(limits));
      await a.close(); // a "dies": no settle, no more renewals
      await sleep(700); // b renews its slot every 100 ms; a's lapses after 300 ms
      assert.equal(await outcome(b.admit(request(limits))), 'ok');
      assert.equal(await outcome(b.admit(request(limits))), 'concurrency');
    });
  });

  describe('when Redis goes away and comes back', () => {
    it("'local' keeps serving under per-instance limits, then shares again", async () => {
      const logs: string[] = [];
      const events: string[] = [];
      const log = { warn: (_o: object, m: string) => logs.push(`warn ${m}`), info: (_o: object, m: string) => logs.push(`info ${m}`) };
      const cfg = config({ redisFailure: 'local' });
      const [a, b] = await pair(cfg, {
        log,
        observer: { storeFailure: () => events.push('failure'), storeRecovered: () => events.push('recovered') },
      });
      const limits = { rpm: 4 };
      // shared: 4 in total
      const shared = await Promise.all([a, b, a, b, a, b].map((l) => outcome(l.admit(request(limits)))));
      assert.equal(shared.filter((r) => r === 'ok').length, 4);

      const port = srv.port;
      await srv.stop();
      await until(() => !a.storeHealthy() && !b.storeHealthy(), 5000, 'both limiters to notice');
      // local: each instance has its own 4
      for (const l of [a, b]) {
        const local = [];
        for (let i = 0; i < 6; i++) local.push(await outcome(l.admit(request(limits))));
        assert.deepEqual(local, ['ok', 'ok', 'ok', 'ok', 'requests', 'requests']);
      }
      assert.deepEqual(events, ['failure', 'failure']); // once per instance
      assert.equal(logs.filter((l) => l.startsWith('warn')).length, 2);

      srv = await startRedis(port); // a fresh, empty Redis
      await until(() => a.storeHealthy() && b.storeHealthy(), 10_000, 'reconnection');
      assert.deepEqual(events, ['failure', 'failure', 'recovered', 'recovered']);
      assert.equal(logs.filter((l) => l.startsWith('info')).length, 2);
      const again = await Promise.all([a, b, a, b, a, b].map((l) => outcome(l.admit(request(limits)))));
      assert.equal(again.filter((r) => r === 'ok').length, 4, 'shared again: 4 in total');
    });

    it("'closed' answers 503 while Redis is away, then admits again", async () => {
      const [a] = await pair(config({ redisFailure: 'closed' }));
      assert.equal(await outcome(a.admit(request({ rpm: 100 }))), 'ok');
      const port = srv.port;
      await srv.stop();
      const during = await outcome(a.admit(request({ rpm: 100 })));
      assert.equal(during, '503');
      assert.equal(a.storeHealthy(), false);
      srv = await startRedis(port);
      await until(() => a.storeHealthy(), 10_000, 'reconnection');
      assert.equal(await outcome(a.admit(request({ rpm: 100 }))), 'ok');
    });
  });
});
