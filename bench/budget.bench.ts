/**
 * What a spend budget adds to an admission (README "Budgets"): the limiter's `admit` + `settle`
 * for a key with rpm/tpm/maxConcurrent limits, with and without a budget, on the memory store and
 * on a real redis-server (started here when `redis-server` is on the PATH). Settlement is fire
 * and forget in the proxy; here each settle is awaited through the store (one more admission
 * only starts after it) so the figure includes it.
 *
 *   node --import=tsx bench/budget.bench.ts
 */
import { buildConfig } from '../src/config/load.js';
import { createRateLimiter, createRedisClient, redisReady } from '../src/limits/index.js';
import { systemClock } from '../src/clock.js';
import { startRedis, type RedisSrv } from '../test/helpers/services.js';
import type { Redis } from 'ioredis';

const limits = { rpm: 100_000_000, tpm: 1_000_000_000_000, maxConcurrent: 100_000 };
const { config } = buildConfig(
  {
    upstreams: { sim: { type: 'sim' } },
    models: [{ match: '*', upstream: 'sim' }],
    metrics: { prices: { '*': { prompt: 2.5, completion: 10 } } },
    budgets: { team: { usd: 1_000_000, period: 'month' } },
    keys: [
      { name: 'plain', key: 'sk-plain', limits },
      { name: 'budgeted', key: 'sk-budgeted', limits, budget: 'team' },
    ],
    rateLimit: { redisKeyPrefix: `bench-${process.pid}` },
  },
  {},
);

async function time(label: string, redis: Redis | undefined, budget: string | undefined, n: number): Promise<number> {
  const limiter = createRateLimiter({ config, clock: systemClock, redis });
  const req = { key: { name: budget ? 'budgeted' : 'plain', limits, budget }, model: 'gpt-4o', label: '*', upstream: 'sim', estimatedTokens: 20, maxTokens: 256 };
  const usage = { promptTokens: 20, completionTokens: 100 };
  // Settle through the store, awaited: the limiter's settle is fire-and-forget, so wait for the
  // next admission to queue behind it (one Redis connection answers in order).
  const one = async (): Promise<void> => {
    const a = await limiter.admit(req);
    a.settle(120, usage);
  };
  for (let i = 0; i < Math.min(2000, n); i++) await one(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await one();
  if (redis) await redis.ping(); // the last settle has been answered
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(34)} ${us.toFixed(2)} µs/request`);
  await limiter.close();
  return us;
}

const memPlain = await time('memory, limits only', undefined, undefined, 200_000);
const memBudget = await time('memory, limits + budget', undefined, 'team', 200_000);
console.log(`  budget adds ${(memBudget - memPlain).toFixed(2)} µs per request in memory`);

let srv: RedisSrv | undefined;
try {
  srv = await startRedis();
} catch (err) {
  console.log(`redis-server unavailable, skipping Redis: ${(err as Error).message}`);
}
if (srv) {
  const redis = createRedisClient(srv.url);
  await redisReady(redis);
  const rPlain = await time('redis, limits only', redis, undefined, 20_000);
  const rBudget = await time('redis, limits + budget', redis, 'team', 20_000);
  console.log(`  budget adds ${(rBudget - rPlain).toFixed(2)} µs per request with Redis (same round trips: one script each way)`);
  redis.disconnect();
  await srv.stop();
}
