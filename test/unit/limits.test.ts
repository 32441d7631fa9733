import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { ManualClock } from '../../src/clock.js';
import { configSchema, type Config, type LimitsConfig } from '../../src/config/schema.js';
import { RateLimitError, ServiceUnavailableError, toOpenAIError } from '../../src/errors.js';
import { formatResetDuration } from '../../src/limits/format.js';
import { adjust, charge, viewBucket, WINDOW_MS } from '../../src/limits/gcra.js';
import {
  createRateLimiter,
  type AdmissionRequest,
  type LimiterObserver,
  type RateLimiter,
} from '../../src/limits/limiter.js';
import { createMemoryStore } from '../../src/limits/memory-store.js';
import { reservationTokens } from '../../src/limits/policy.js';

const T0 = 1_700_000_000_000;

function config(rateLimit: Record<string, unknown> = {}): Config {
  return configSchema.parse({ rateLimit });
}

function request(limits: LimitsConfig, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { key: { name: 'demo', limits }, model: 'sim-echo', upstream: 'sim', estimatedTokens: 0, maxTokens: 0, ...over };
}

async function refusal(p: Promise<unknown>): Promise<RateLimitError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RateLimitError, `expected RateLimitError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

/** Parse a Go duration as OpenAI writes it back to ms (test oracle for the formatter). */
function parseGoDuration(s: string): number {
  if (s.endsWith('ms')) return Number(s.slice(0, -2));
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s$/.exec(s);
  assert.ok(m, `not a Go duration: ${s}`);
  return Number(m[1] ?? 0) * 3_600_000 + Number(m[2] ?? 0) * 60_000 + Math.round(Number(m[3]) * 1000);
}

describe('limits', () => {
  describe('formatResetDuration (OpenAI writes Go durations: "1s", "6m0s", "8.64s", "825ms")', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [1, '1ms'],
      [12, '12ms'],
      [999, '999ms'],
      [1000, '1s'],
      [1500, '1.5s'],
      [3114, '3.114s'],
      [8640, '8.64s'],
      [12_000, '12s'],
      [60_000, '1m0s'],
      [172_800, '2m52.8s'],
      [360_000, '6m0s'],
      [3_600_000, '1h0m0s'],
      [3_723_004, '1h2m3.004s'],
      [90_061_000, '25h1m1s'],
    ];
    for (const [ms, text] of cases) it(`${ms} ms → ${text}`, () => assert.equal(formatResetDuration(ms), text));

    it('rounds a fraction of a millisecond up, so a client never retries early', () => {
      assert.equal(formatResetDuration(12.1), '13ms');
      assert.equal(formatResetDuration(999.5), '1s');
    });
    it('shows negative, NaN and infinite durations as 0s', () => {
      for (const v of [-5, Number.NaN, Infinity]) assert.equal(formatResetDuration(v), '0s');
    });
    it('round-trips every whole millisecond count up to 30 h', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 108_000_000 }), (ms) => parseGoDuration(formatResetDuration(ms)) === ms));
    });
  });

  describe('GCRA bucket math', () => {
    it('a full bucket takes a burst of exactly its capacity', () => {
      let tat = 0;
      let n = 0;
      for (;;) {
        const r = charge(tat, T0, 7, 1);
        if (!r.ok) break;
        tat = r.tat;
        n++;
      }
      assert.equal(n, 7); // rpm 7: 60000/7 ms per request is not exact in binary; the slack covers it
    });

    it('refills continuously: one unit per 60000/capacity ms, never a second burst at a window boundary', () => {
      // rpm 5, idle for an hour, then a burst at 59.9 s and another at 60.1 s: a fixed window would
      // admit 10 in 0.2 s. Here the second burst gets nothing, and single requests come back every 12 s.
      let tat = 0;
      let t = T0 + 59_900;
      for (let i = 0; i < 5; i++) tat = (charge(tat, t, 5, 1) as { tat: number }).tat;
      t += 200;
      const r = charge(tat, t, 5, 1);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && Math.round(r.retryMs), 12_000 - 200);
      assert.equal(charge(tat, T0 + 59_900 + 11_999, 5, 1).ok, false);
      assert.equal(charge(tat, T0 + 59_900 + 12_000, 5, 1).ok, true);
    });

    it('never admits more than capacity + elapsed × rate in any interval (property)', () => {
      const capacity = 10;
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 200 }), (gaps) => {
          let tat = 0;
          let t = T0;
          const admitted: number[] = [];
          for (const g of gaps) {
            t += g;
            const r = charge(tat, t, capacity, 1);
            if (r.ok) {
              tat = r.tat;
              admitted.push(t);
            }
          }
          for (let i = 0; i < admitted.length; i++) {
            for (let j = i; j < admitted.length; j++) {
              const allowed = capacity + ((admitted[j]! - admitted[i]!) * capacity) / WINDOW_MS;
              if (j - i + 1 > allowed + 1e-9) return false;
            }
          }
          return true;
        }),
      );
    });

    it('views: used, remaining and time until full', () => {
      const v = viewBucket(T0 + 24_000, T0, 5); // two requests' worth of refill pending
      assert.deepEqual(v, { used: 2, remaining: 3, resetMs: 24_000 });
      assert.deepEqual(viewBucket(0, T0, 5), { used: 0, remaining: 5, resetMs: 0 });
    });

    it('a cost above capacity can never pass', () => {
      const r = charge(0, T0, 100, 101);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.retryMs, Infinity);
    });

    it('adjust refunds (never fuller than full) and charges into debt', () => {
      assert.equal(adjust(T0 + 6000, T0, 10, -1), T0); // refund one of one used
      assert.equal(adjust(T0 + 6000, T0, 10, -5), T0); // refund more than used: just full
      assert.equal(adjust(T0 + 54_000, T0, 10, 5), T0 + 84_000); // 9 used + 5 → 14 of 10: debt
      assert.equal(viewBucket(T0 + 84_000, T0, 10).remaining, -4);
    });
  });

  describe('reservationTokens', () => {
    it('is prompt estimate + max_tokens, or + the default completion reservation', () => {
      assert.equal(reservationTokens({ estimatedTokens: 100, maxTokens: 50 }, 1024), 150);
      assert.equal(reservationTokens({ estimatedTokens: 100 }, 1024), 1124);
      assert.equal(reservationTokens({ estimatedTokens: 100, maxTokens: null }, 1024), 1124);
      assert.equal(reservationTokens({ estimatedTokens: 10.2, maxTokens: 0 }, 1024), 11);
    });
  });

  describe('createRateLimiter (memory store, manual clock)', () => {
    let clock: ManualClock;
    let limiter: RateLimiter;
    let events: string[];
    const observer: LimiterObserver = {
      rateLimited: (key, limit) => events.push(`limited ${key} ${limit}`),
      remaining: (key, limit, n) => events.push(`remaining ${key} ${limit} ${n}`),
    };
    const make = (rateLimit: Record<string, unknown> = {}) => {
      limiter = createRateLimiter({ config: config(rateLimit), clock, observer });
      return limiter;
    };
    beforeEach(() => {
      clock = new ManualClock(T0);
      events = [];
    });
    afterEach(() => limiter?.close());

    describe('when no limit applies', () => {
      it('admits with no headers and a no-op settle', async () => {
        const a = await make().admit(request({}));
        assert.deepEqual(a.headers, {});
        a.settle(10);
        a.settle(10);
        assert.deepEqual(events, []);
      });
    });

    describe('requests per minute', () => {
      it('admits a burst of rpm, then refuses with OpenAI headers, message and Retry-After', async () => {
        make();
        const limits = { rpm: 5 };
        const first = await limiter.admit(request(limits));
        assert.deepEqual(first.headers, {
          'x-ratelimit-limit-requests': '5',
          'x-ratelimit-remaining-requests': '4',
          'x-ratelimit-reset-requests': '12s',
        });
        for (let i = 0; i < 4; i++) await limiter.admit(request(limits));
        clock.advance(250);
        const err = await refusal(limiter.admit(request(limits)));
        assert.equal(err.status, 429);
        assert.equal(err.type, 'requests');
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.equal(
          err.message,
          'Rate limit reached for sim-echo on key demo on requests per min (RPM): Limit 5, Used 5, Requested 1. Please try again in 11.75s.',
        );
        assert.equal(err.retryAfterMs, 11_750);
        assert.deepEqual(err.headers, {
          'x-ratelimit-limit-requests': '5',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '59.75s',
          'retry-after': '12',
          'retry-after-ms': '11750',
        });
        assert.ok(events.includes('limited demo requests'));
      });

      it('renders as OpenAI\'s 429 body', async () => {
        make();
        await limiter.admit(request({ rpm: 1 }));
        const rendered = toOpenAIError(await refusal(limiter.admit(request({ rpm: 1 }))));
        assert.equal(rendered.status, 429);
        assert.equal(rendered.headers['retry-after'], '60');
        assert.deepEqual(Object.keys(rendered.body.error).sort(), ['code', 'message', 'param', 'type']);
        assert.equal(rendered.body.error.type, 'requests');
        assert.equal(rendered.body.error.code, 'rate_limit_exceeded');
        assert.equal(rendered.body.error.param, null);
        assert.match(rendered.body.error.message, /Limit 1, Used 1, Requested 1\. Please try again in 1m0s\.$/);
      });

      it('admits again exactly when the announced wait is over', async () => {
        make();
        for (let i = 0; i < 5; i++) await limiter.admit(request({ rpm: 5 }));
        const err = await refusal(limiter.admit(request({ rpm: 5 })));
        clock.advance(err.retryAfterMs - 1);
        await refusal(limiter.admit(request({ rpm: 5 })));
        clock.advance(1);
        await limiter.admit(request({ rpm: 5 }));
      });

      it('over a long run admits rpm per minute, not more', async () => {
        make();
        let admitted = 0;
        for (let s = 0; s < 600; s++) {
          // 10 minutes, 3 attempts a second
          for (let k = 0; k < 3; k++) {
            await limiter.admit(request({ rpm: 30 })).then(() => admitted++, () => {});
          }
          clock.advance(1000);
        }
        assert.equal(admitted, 30 + 30 * 10 - 1); // the burst, then one every 2 s (the last falls due at 600 s)
      });
    });

    describe('tokens per minute: reservation and reconciliation', () => {
      const limits = { tpm: 1000 };

      it('reserves estimated prompt tokens + max_tokens, headers show it', async () => {
        make();
        const a = await limiter.admit(request(limits, { estimatedTokens: 100, maxTokens: 150 }));
        assert.equal(a.reservedTokens, 250);
        assert.deepEqual(a.headers, {
          'x-ratelimit-limit-tokens': '1000',
          'x-ratelimit-remaining-tokens': '750',
          'x-ratelimit-reset-tokens': '15s', // 250 tokens × 60 ms
        });
      });

      it('reserves the default completion reservation when max_tokens is absent', async () => {
        make({ defaultCompletionReservation: 500 });
        const a = await limiter.admit(request(limits, { estimatedTokens: 100, maxTokens: undefined }));
        assert.equal(a.reservedTokens, 600);
        assert.equal(a.headers['x-ratelimit-remaining-tokens'], '400');
      });

      it('settle refunds unused tokens', async () => {
        make();
        const a = await limiter.admit(request(limits, { estimatedTokens: 100, maxTokens: 500 }));
        a.settle(200);
        const b = await limiter.admit(request(limits));
        assert.equal(b.headers['x-ratelimit-remaining-tokens'], '800');
      });

      it('settle(null) keeps the reservation', async () => {
        make();
        const a = await limiter.admit(request(limits, { estimatedTokens: 100, maxTokens: 500 }));
        a.settle(null);
        const b = await limiter.admit(request(limits));
        assert.equal(b.headers['x-ratelimit-remaining-tokens'], '400');
      });

      it('settle charges an overrun into debt, which later requests wait out', async () => {
        make();
        const a = await limiter.admit(request(limits, { estimatedTokens: 100, maxTokens: 500 }));
        a.settle(1500); // 900 more than reserved: 1500 used of 1000
        await new Promise(setImmediate); // the observer hears of it once the store answers
        assert.ok(events.includes('remaining demo tokens -500'));
        const err = await refusal(limiter.admit(request(limits, { estimatedTokens: 1 })));
        assert.equal(err.type, 'tokens');
        assert.equal(err.headers['x-ratelimit-remaining-tokens'], '0');
        assert.equal(err.headers['x-ratelimit-reset-tokens'], '1m30s');
        assert.equal(err.retryAfterMs, 501 * 60); // until 999 are used: 501 tokens of refill
        assert.match(err.message, /on tokens per min \(TPM\): Limit 1000, Used 1500, Requested 1\. Please try again in 30\.06s\.$/);
        clock.advance(501 * 60);
        await limiter.admit(request(limits, { estimatedTokens: 1 }));
      });

      it('a request larger than the whole tpm is "Request too large" and not to be retried', async () => {
        make();
        const err = await refusal(limiter.admit(request(limits, { estimatedTokens: 900, maxTokens: 200 })));
        assert.equal(err.type, 'tokens');
        assert.equal(err.headers['x-should-retry'], 'false');
        assert.match(err.message, /^Request too large for sim-echo on key demo on tokens per min \(TPM\): Limit 1000, Requested 1100\./);
      });

      it('a refused request charges no tokens', async () => {
        make();
        await limiter.admit(request(limits, { estimatedTokens: 900 }));
        await refusal(limiter.admit(request(limits, { estimatedTokens: 200 })));
        const b = await limiter.admit(request(limits, { estimatedTokens: 100 }));
        assert.equal(b.headers['x-ratelimit-remaining-tokens'], '0');
      });
    });

    describe('concurrency', () => {
      const limits = { maxConcurrent: 2 };

      it('refuses the third open request with type "concurrency" and Retry-After 1', async () => {
        make();
        await limiter.admit(request(limits));
        await limiter.admit(request(limits));
        const err = await refusal(limiter.admit(request(limits)));
        assert.equal(err.type, 'concurrency');
        assert.equal(err.headers['retry-after'], '1');
        assert.equal(err.headers['retry-after-ms'], '1000');
        assert.match(err.message, /on key demo on concurrent requests: Limit 2, Used 2, Requested 1\. Please try again in 1s\.$/);
        assert.ok(events.includes('limited demo concurrency'));
      });

      it('settle releases the slot, and a second settle is a no-op', async () => {
        make();
        const a = await limiter.admit(request(limits));
        await limiter.admit(request(limits));
        a.settle(null);
        a.settle(null);
        a.settle(5);
        await limiter.admit(request(limits)); // the slot a freed
        await refusal(limiter.admit(request(limits))); // a's double settle freed nothing more
      });

      it('every ending of 500 streams gives its slot back', async () => {
        make();
        const endings = [10, null, 0, 3]; // completion, abort (no usage), failure before output, timeout
        for (let i = 0; i < 500; i++) {
          const a = await limiter.admit(request(limits));
          const b = await limiter.admit(request(limits));
          a.settle(endings[i % 4]!);
          b.settle(endings[(i + 1) % 4]!);
        }
        await new Promise(setImmediate);
        assert.ok(events.includes('remaining demo concurrency 2'));
        await limiter.admit(request(limits));
        await limiter.admit(request(limits));
        await refusal(limiter.admit(request(limits)));
      });
    });

    describe('several scopes: key, model glob, upstream', () => {
      it('charges all buckets or none (a model refusal leaves the key untouched)', async () => {
        make({ models: { 'sim-*': { rpm: 3 } } });
        const limits = { rpm: 10, maxConcurrent: 10 };
        for (let i = 0; i < 3; i++) await limiter.admit(request(limits));
        events = [];
        const err = await refusal(limiter.admit(request(limits)));
        assert.match(err.message, /on model sim-\* on requests per min/);
        assert.deepEqual(events.filter((e) => e.startsWith('remaining demo requests')), ['remaining demo requests 7']);
        assert.ok(events.includes('remaining demo concurrency 7')); // 3 open; the refused one took no slot
        // another model is not limited by the glob: the key still has 7
        const other = await limiter.admit(request(limits, { model: 'gpt-4o' }));
        assert.equal(other.headers['x-ratelimit-remaining-requests'], '6');
      });

      it('a tokens refusal does not use up a request', async () => {
        make();
        const limits = { rpm: 2, tpm: 100 };
        await limiter.admit(request(limits, { estimatedTokens: 90 }));
        await refusal(limiter.admit(request(limits, { estimatedTokens: 20 })));
        const ok = await limiter.admit(request(limits, { estimatedTokens: 10 }));
        assert.equal(ok.headers['x-ratelimit-remaining-requests'], '0');
      });

      it('an upstream limit is shared by all keys; headers show the tightest scope', async () => {
        make({ upstreams: { sim: { rpm: 2, maxConcurrent: 5 } } });
        const a = await limiter.admit(request({ rpm: 100 }));
        assert.equal(a.headers['x-ratelimit-limit-requests'], '2');
        assert.equal(a.headers['x-ratelimit-remaining-requests'], '1');
        await limiter.admit({ ...request({}), key: { name: 'other', limits: {} } });
        const err = await refusal(limiter.admit(request({ rpm: 100 })));
        assert.match(err.message, /on upstream sim on requests per min \(RPM\): Limit 2, Used 2/);
        assert.ok(events.includes('limited demo requests'));
        // a different upstream is not affected
        await limiter.admit(request({ rpm: 100 }, { upstream: 'default' }));
      });

      it('reports the longest wait when several limits are exhausted', async () => {
        make();
        const limits = { rpm: 60, tpm: 600, maxConcurrent: 1 };
        await limiter.admit(request(limits, { estimatedTokens: 600 }));
        const err = await refusal(limiter.admit(request(limits, { estimatedTokens: 300 })));
        // requests: 1 s; concurrency: 1 s; tokens: 300 tokens × 100 ms = 30 s
        assert.equal(err.type, 'tokens');
        assert.equal(err.retryAfterMs, 30_000);
        assert.equal(err.headers['x-ratelimit-remaining-requests'], '59');
      });
    });
  });

  describe('memory store', () => {
    it('deletes buckets that are full again and never counts slots below zero', async () => {
      const clock = new ManualClock(T0);
      const store = createMemoryStore(clock);
      const out = await store.admit({ buckets: [{ id: 'b', capacity: 60, cost: 1 }], slots: [{ id: 's', max: 1 }], slotId: 'x' });
      assert.equal(out.admitted, true);
      assert.equal(store.inUse('s'), 1);
      await store.settle({ buckets: [], slots: ['s'], slotId: 'x' });
      await store.settle({ buckets: [], slots: ['s'], slotId: 'x' });
      assert.equal(store.inUse('s'), 0);
      clock.advance(1000);
      const again = await store.admit({ buckets: [{ id: 'b', capacity: 60, cost: 60 }], slots: [], slotId: 'y' });
      assert.equal(again.admitted, true);
    });
  });

  describe('when the Redis store fails', () => {
    /** Just enough of an ioredis client: every script call runs `reply` (by default: fails). */
    class FakeRedis extends EventEmitter {
      status = 'ready';
      calls = 0;
      reply: () => Promise<unknown> = async () => {
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      };
      defineCommand(name: string): void {
        (this as unknown as Record<string, unknown>)[name] = () => {
          this.calls++;
          return this.reply();
        };
      }
    }
    const logs: string[] = [];
    const log = { warn: (_o: object, m: string) => logs.push(`warn ${m}`), info: (_o: object, m: string) => logs.push(`info ${m}`) };
    beforeEach(() => logs.splice(0));

    it("'local' keeps admitting from memory, logs and reports once, and recovers once", async () => {
      const fake = new FakeRedis();
      const seen: string[] = [];
      const limiter = createRateLimiter({
        config: config({ redisFailure: 'local' }),
        clock: new ManualClock(T0),
        redis: fake as unknown as Redis,
        log,
        observer: { storeFailure: (e) => seen.push(`failure ${e.message}`), storeRecovered: () => seen.push('recovered') },
      });
      for (let i = 0; i < 3; i++) await limiter.admit(request({ rpm: 3 }));
      await refusal(limiter.admit(request({ rpm: 3 }))); // local limits still hold
      assert.equal(limiter.storeHealthy(), false);
      assert.equal(logs.length, 1);
      assert.match(logs[0]!, /^warn rate limit store \(Redis\) unreachable: using per-instance limits/);
      assert.deepEqual(seen, ["failure Stream isn't writeable and enableOfflineQueue options is false"]);
      fake.emit('close'); // reconnection attempts do not log again
      fake.emit('ready');
      fake.emit('ready');
      assert.equal(limiter.storeHealthy(), true);
      assert.deepEqual(seen.slice(1), ['recovered']);
      assert.equal(logs[1], 'info rate limit store (Redis) is back: limits are shared again');
      await limiter.close();
      assert.equal(fake.listenerCount('close') + fake.listenerCount('ready'), 0);
    });

    it('while down, does not wait for Redis: disconnected → no call; connected but hanging → one probe at a time', async () => {
      const fake = new FakeRedis();
      const limiter = createRateLimiter({ config: config(), clock: new ManualClock(T0), redis: fake as unknown as Redis, log });
      await limiter.admit(request({ rpm: 100 })); // fails over, marks Redis down
      assert.equal(fake.calls, 1);
      fake.status = 'reconnecting';
      await limiter.admit(request({ rpm: 100 }));
      assert.equal(fake.calls, 1, 'no call while disconnected');
      fake.status = 'ready'; // connected (no 'ready' event: e.g. a hanging server)
      let release!: () => void;
      fake.reply = () => new Promise((_r, reject) => { release = () => reject(new Error('Command timed out')); });
      const probe = limiter.admit(request({ rpm: 100 }));
      const others = await Promise.all([limiter.admit(request({ rpm: 100 })), limiter.admit(request({ rpm: 100 }))]);
      assert.equal(others.length, 2, 'served locally while the probe hangs');
      assert.equal(fake.calls, 2);
      release();
      await probe; // the probe itself falls back too
      assert.equal(logs.filter((l) => l.startsWith('warn')).length, 1);
      await limiter.close();
    });

    it("'closed' answers 503", async () => {
      const limiter = createRateLimiter({
        config: config({ redisFailure: 'closed' }),
        clock: new ManualClock(T0),
        redis: new FakeRedis() as unknown as Redis,
        log,
      });
      await assert.rejects(limiter.admit(request({ rpm: 3 })), (err: unknown) => {
        assert.ok(err instanceof ServiceUnavailableError);
        assert.equal(err.status, 503);
        return true;
      });
      // no limit configured for this request: no store involved, no 503
      await limiter.admit(request({}));
      await limiter.close();
    });
  });
});
