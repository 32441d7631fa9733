/**
 * A spend budget shared across proxy PROCESSES (README "Budgets"): two real proxies
 * (`node src/main.ts`, config from a YAML file, REDIS_URL from the env) on one redis-server,
 * both relaying to one scripted upstream in this process that reports 10 prompt and 20
 * completion tokens per answer — $0.05 at the prices below. Under concurrent load the team's
 * budget is never overspent by more than one request's reservation, every answered request is
 * accounted for exactly once, and the spend outlives a restart of both processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startRedis, type RedisSrv } from '../helpers/services.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../helpers/upstream.js';
import { budgetPeriodId, periodBounds } from '../../src/limits/budget-math.js';

const LIMIT_USD = 1;
const COST_USD = 0.05;
const USAGE = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 };

async function answer(call: UpstreamCall): Promise<void> {
  call.head(200, { 'content-type': 'application/json' });
  await call.end(
    JSON.stringify({
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'up-1',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: USAGE,
    }),
  );
}

interface Outcome {
  status: number;
  code: string | null;
  remaining: number | null;
}

/** One chat request with max_tokens 100 (a reservation of ~$0.21) to `p`, as `key`. */
async function call(p: ProxyProcess, key: string): Promise<Outcome> {
  const res = await fetch(`${p.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'up-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
  });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  assert.ok(res.status === 200 || res.status === 429, `unexpected ${res.status}: ${JSON.stringify(body)}`);
  const remaining = res.headers.get('x-budget-remaining-usd');
  return { status: res.status, code: body.error?.code ?? null, remaining: remaining === null ? null : Number(remaining) };
}

describe('a spend budget shared across proxy processes (real redis-server)', function () {
  this.timeout(90_000);
  const KEY_A = `sk-a-${randomBytes(12).toString('hex')}`;
  const KEY_B = `sk-b-${randomBytes(12).toString('hex')}`;
  const prefix = `budgets-${process.pid}`;
  let dir: string;
  let srv: RedisSrv;
  let up: TestUpstream;
  let redis: Redis;
  let procs: ProxyProcess[] = [];
  let env: Record<string, string>;

  const spentUsd = async (): Promise<number> => {
    const id = budgetPeriodId('team', periodBounds('month', Date.now()).start);
    return Number((await redis.get(`${prefix}:{rl}:${id}`)) ?? 0) / 1e9;
  };

  before(async () => {
    srv = await startRedis();
    up = await startUpstream();
    up.autoReply(answer);
    redis = new Redis(srv.url);
    dir = mkdtempSync(path.join(os.tmpdir(), 'redis-budgets-'));
    const configFile = path.join(dir, 'budgets.yaml');
    writeFileSync(
      configFile,
      stringify({
        server: { host: '127.0.0.1', port: 8080, shutdownGraceMs: 500 },
        upstreams: { up: { type: 'openai', baseUrl: up.baseUrl, apiKey: 'sk-upstream' } },
        models: [{ match: 'up-*', upstream: 'up' }],
        metrics: { prices: { 'up-*': { prompt: 1000, completion: 2000 } } },
        budgets: { team: { usd: LIMIT_USD, period: 'month' } },
        keys: [
          { name: 'a', key: '${KEY_A}', budget: 'team' },
          { name: 'b', key: '${KEY_B}', budget: 'team' },
        ],
        rateLimit: { redisFailure: 'closed', redisKeyPrefix: prefix },
        logging: { level: 'warn' },
      }),
    );
    env = { CONFIG_FILE: configFile, REDIS_URL: srv.url, KEY_A, KEY_B };
    procs = await Promise.all([startProxyProcess({ env }), startProxyProcess({ env })]);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    redis?.disconnect();
    await srv?.stop();
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent requests through both never overspend by more than one reservation, and each answer is charged once', async () => {
    const outcomes: Outcome[] = [];
    // Rounds of 8 at once (two keys × two processes) until a whole round is refused; bounded.
    for (let round = 0; round < 30; round++) {
      const batch = await Promise.all(Array.from({ length: 8 }, (_, i) => call(procs[i % 2]!, i % 4 < 2 ? KEY_A : KEY_B)));
      outcomes.push(...batch);
      if (batch.every((o) => o.status === 429)) break;
    }
    const answered = outcomes.filter((o) => o.status === 200).length;
    const refused = outcomes.filter((o) => o.status === 429);
    assert.ok(refused.length > 0 && refused.every((o) => o.code === 'insufficient_quota'), 'the budget ran out');
    assert.equal(up.calls.length, answered, 'refused requests never reached the upstream');
    const spent = await spentUsd();
    // Every admission left room for its whole reservation, so settled spend stays within the limit;
    // the promise is looser: at most one reservation (~$0.21) over.
    assert.ok(spent <= LIMIT_USD + 0.25, `spent ${spent}`);
    assert.ok(Math.abs(spent - answered * COST_USD) < 1e-9, `spent ${spent} for ${answered} answers`);
    assert.ok(spent > LIMIT_USD - 0.25, `the budget was used up (${spent})`);
    // The key expires at the end of the month (UTC).
    const id = budgetPeriodId('team', periodBounds('month', Date.now()).start);
    const expireAt = Number(await redis.pexpiretime(`${prefix}:{rl}:${id}`));
    assert.equal(expireAt, periodBounds('month', Date.now()).end);
  });

  it('the spend survives a restart of both processes', async () => {
    const before = await spentUsd();
    await Promise.all(procs.map((p) => p.stop()));
    procs = await Promise.all([startProxyProcess({ env }), startProxyProcess({ env })]);
    for (const p of procs) {
      const o = await call(p, KEY_A);
      assert.equal(o.status, 429);
      assert.equal(o.code, 'insufficient_quota');
      assert.ok(o.remaining !== null && Math.abs(o.remaining - Math.max(0, LIMIT_USD - before)) < 1e-6, `remaining ${o.remaining}`);
    }
    assert.equal(await spentUsd(), before);
  });
});
