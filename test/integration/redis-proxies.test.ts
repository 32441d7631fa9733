/**
 * Shared limits across proxy PROCESSES (issue 4): two real proxies (`node src/main.ts`, config
 * from a YAML file, REDIS_URL from the env) share one redis-server this test starts, stops and
 * restarts. The limiter-level behaviour (Lua parity, leases, fallback) is in
 * redis-limits.test.ts; here it is the app as operators run it, over HTTP.
 *
 * Waits are event-driven (the proxies' own log lines, bus events in process) and bounded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { startRedis, type RedisSrv } from '../helpers/services.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { waitUntil } from '../helpers/fault-upstream.js';

const RPM = 30;
/** GCRA: one request comes back every 60 s / rpm. */
const REFILL_MS = 60_000 / RPM;

interface Outcome {
  status: number;
  remaining: string | null;
  via: number;
}

/** `n` chat requests at once, request i to proxies[i % proxies.length]; with the elapsed time. */
async function burst(proxies: readonly ProxyProcess[], key: string, n: number): Promise<{ outcomes: Outcome[]; elapsedMs: number }> {
  const t0 = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const via = i % proxies.length;
      const res = await fetch(`${proxies[via]!.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
      });
      const text = await res.text();
      assert.ok(res.status === 200 || res.status === 429, `unexpected ${res.status}: ${text}`);
      if (res.status === 429) assert.equal(JSON.parse(text).error.type, 'requests');
      return { status: res.status, remaining: res.headers.get('x-ratelimit-remaining-requests'), via };
    }),
  );
  return { outcomes, elapsedMs: performance.now() - t0 };
}

const admittedOf = (o: readonly Outcome[]) => o.filter((x) => x.status === 200).length;

/**
 * The most extra admissions refill can explain: the burst of `rpm` is admitted at once, and the
 * next request only REFILL_MS after the first admission; all admissions happen within the
 * measured span, so floor(span / REFILL_MS) bounds the drift (0 for a burst under 2 s).
 */
const driftFor = (elapsedMs: number) => Math.floor(elapsedMs / REFILL_MS);

async function readyz(p: ProxyProcess): Promise<{ status: number; redis: { ok: boolean; detail: { healthy: boolean; mode: string } } | undefined }> {
  const res = await fetch(`${p.url}/readyz`);
  const body = (await res.json()) as { checks: Array<{ name: string; ok: boolean; detail: { healthy: boolean; mode: string } }> };
  return { status: res.status, redis: body.checks.find((c) => c.name === 'redis') };
}

async function metricValue(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('rate limits shared across proxy processes (real redis-server)', function () {
  this.timeout(60_000);

  describe('two proxy processes, one Redis', () => {
    const DEMO_API_KEY = `sk-demo-${randomBytes(12).toString('hex')}`;
    let dir: string;
    let srv: RedisSrv;
    let port: number;
    let procs: ProxyProcess[] = [];

    before(async () => {
      srv = await startRedis();
      port = srv.port;
      dir = mkdtempSync(path.join(os.tmpdir(), 'redis-proxies-'));
      const configFile = path.join(dir, 'limits.yaml');
      writeFileSync(
        configFile,
        stringify({
          // /readyz details (the redis check) without an admin key: this test reads them.
          server: { host: '127.0.0.1', port: 8080, shutdownGraceMs: 500, readyzDetails: 'public' },
          upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 4 } } },
          models: [{ match: 'sim-*', upstream: 'sim' }],
          keys: [{ name: 'demo', key: '${DEMO_API_KEY}', models: ['sim-*'], limits: { rpm: RPM } }],
          rateLimit: { redisFailure: 'local', redisKeyPrefix: `procs-${process.pid}` },
          logging: { level: 'info' },
        }),
      );
      const env = { CONFIG_FILE: configFile, REDIS_URL: srv.url, DEMO_API_KEY };
      procs = await Promise.all([startProxyProcess({ env }), startProxyProcess({ env })]);
    });
    after(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      await srv?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`100 requests spread over both admit exactly rpm ${RPM} (plus the refill drift the elapsed time allows)`, async () => {
      const { outcomes, elapsedMs } = await burst(procs, DEMO_API_KEY, 100);
      const admitted = admittedOf(outcomes);
      const drift = driftFor(elapsedMs);
      assert.ok(admitted >= RPM && admitted <= RPM + drift, `admitted ${admitted} in ${elapsedMs.toFixed(0)} ms (drift ≤ ${drift})`);
      for (const via of [0, 1]) {
        const mine = outcomes.filter((o) => o.via === via);
        // Each process got its share and refused some: 50 requests each against one shared 30.
        // (Which process wins the admissions is a race, so neither is required to win one.)
        assert.ok(mine.length > 0 && admittedOf(mine) < mine.length, `proxy ${via} served requests and refused some`);
      }
      if (drift === 0) {
        // One shared bucket counted down atomically: each remaining value 29 … 0 exactly once.
        const remaining = outcomes.filter((o) => o.status === 200).map((o) => Number(o.remaining)).sort((a, b) => a - b);
        assert.deepEqual(remaining, Array.from({ length: RPM }, (_, i) => i));
      }
      // The refusals are counted where they happened, under the key's name.
      const refused = await Promise.all(procs.map((p) => metricValue(p.url, 'llm_proxy_rate_limited_total{key="demo",limit="requests"}')));
      assert.equal(refused[0]! + refused[1]!, 100 - admitted);
    });

    it('Redis stopped: both keep serving under per-instance limits; /readyz, /metrics and one log line say so', async () => {
      await srv.stop();
      // Each proxy logs the outage once, as soon as its connection drops.
      await Promise.all(procs.map((p) => p.waitForLog(/rate limit store \(Redis\) unreachable: using per-instance limits/, 5_000)));
      for (const p of procs) {
        const r = await readyz(p);
        assert.equal(r.status, 200, 'still ready: redisFailure is "local"');
        assert.deepEqual(r.redis, { name: 'redis', ok: true, detail: { healthy: false, mode: 'local' } });
        assert.equal(await metricValue(p.url, 'llm_proxy_limiter_store_up'), 0);
        assert.ok((await metricValue(p.url, 'llm_proxy_limiter_store_errors_total')) >= 1);
      }
      // Per instance now: each has its own (untouched) rpm 30, so both together admit 60.
      const [a, b] = await Promise.all(procs.map((p) => burst([p], DEMO_API_KEY, RPM + 10)));
      for (const [name, r] of [['A', a!], ['B', b!]] as const) {
        const admitted = admittedOf(r.outcomes);
        const drift = driftFor(r.elapsedMs);
        assert.ok(admitted >= RPM && admitted <= RPM + drift, `proxy ${name} admitted ${admitted} locally in ${r.elapsedMs.toFixed(0)} ms`);
      }
      for (const p of procs) {
        const warnings = p.logs.filter((l) => l.includes('rate limit store (Redis) unreachable'));
        assert.equal(warnings.length, 1, 'logged once per outage, not per request');
      }
    });

    it('Redis back on the same port: both return to the one shared limit', async () => {
      srv = await startRedis(port); // a fresh, empty Redis at the same URL
      await Promise.all(procs.map((p) => p.waitForLog(/rate limit store \(Redis\) is back: limits are shared again/, 10_000)));
      for (const p of procs) {
        const r = await readyz(p);
        assert.deepEqual(r.redis, { name: 'redis', ok: true, detail: { healthy: true, mode: 'local' } });
        assert.equal(await metricValue(p.url, 'llm_proxy_limiter_store_up'), 1);
      }
      // Shared again: the fresh Redis bucket admits 30 across both. (Still local, the two
      // exhausted local buckets would admit only what refilled since: a few.)
      const { outcomes, elapsedMs } = await burst(procs, DEMO_API_KEY, RPM + 20);
      const admitted = admittedOf(outcomes);
      const drift = driftFor(elapsedMs);
      assert.ok(admitted >= RPM && admitted <= RPM + drift, `admitted ${admitted} in ${elapsedMs.toFixed(0)} ms (drift ≤ ${drift})`);
      for (const via of [0, 1]) assert.ok(admittedOf(outcomes.filter((o) => o.via === via)) > 0, `proxy ${via} admitted some`);
    });

    it('the client key never appears in either process\'s logs', async () => {
      const tail = DEMO_API_KEY.slice(-16);
      // Each process answered 115 requests above; their log lines reach this process through a
      // pipe, a little after the responses.
      const requestLines = (p: ProxyProcess) => p.logs.filter((l) => l.includes('"msg":"request"')).length;
      await waitUntil(() => procs.every((p) => requestLines(p) >= 100), 'the request logs of both processes', 5_000);
      for (const p of procs) {
        assert.ok(requestLines(p) >= 100, 'request logs were written');
        assert.deepEqual(p.logs.filter((l) => l.includes(tail)), []);
      }
    });
  });

  describe('one proxy on Redis: a client that leaves while its admission is in flight', () => {
    let srv: RedisSrv;
    let p: TestProxy;
    const KEY = `sk-race-${randomBytes(12).toString('hex')}`;
    before(async () => {
      srv = await startRedis();
      p = await startTestProxy({
        config: {
          redisUrl: srv.url,
          rateLimit: { redisKeyPrefix: `race-${process.pid}` },
          // Admitted, then silent for 60 s: only the client's leaving can end these requests.
          upstreams: { sim: { type: 'sim', sim: { ttftMs: 60_000, tokenDelayMs: 0, defaultMaxTokens: 1 } } },
          keys: [{ name: 'race', key: KEY, limits: { maxConcurrent: 1000 } }],
        },
      });
    });
    after(async () => {
      await p?.close();
      await srv?.stop();
    });

    it('every request ends and gives its slot back, also when the client left during the Redis round trip', async () => {
      // Each client sends a whole request and closes at once. The close reaches the proxy while
      // the request is being admitted (one Redis round trip) or just after.
      const N = 200;
      const ended = new Set<string>();
      let started = 0;
      let allEnded!: () => void;
      const done = new Promise<void>((resolve) => (allEnded = resolve));
      const offs = [
        p.deps.bus.on('request.start', () => started++),
        p.deps.bus.on('request.end', (r) => {
          ended.add(r.id);
          if (ended.size === N) allEnded();
        }),
      ];
      const body = JSON.stringify({ model: 'sim-1', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      for (let i = 0; i < N; i++) {
        const head = [
          'POST /v1/chat/completions HTTP/1.1',
          'host: 127.0.0.1',
          `authorization: Bearer ${KEY}`,
          'content-type: application/json',
          `content-length: ${Buffer.byteLength(body)}`,
          `x-request-id: race-${i}`,
        ].join('\r\n');
        const s = net.connect(p.port, '127.0.0.1', () => s.write(`${head}\r\n\r\n${body}`, () => s.destroy()));
        s.on('error', () => {});
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 3_000)))]);
      clearTimeout(timer);
      offs.forEach((off) => off());
      const open = Array.from({ length: N }, (_, i) => `race-${i}`).filter((id) => !ended.has(id));
      // The slot goes back to Redis after the request's end is published: poll (bounded) for the gauge.
      const free = async (): Promise<string | undefined> =>
        /llm_proxy_rate_limit_remaining\{key="race",limit="concurrency"\} (\d+)/.exec(await (await fetch(`${p.url}/metrics`)).text())?.[1];
      let gauge: string | undefined;
      await waitUntil(async () => (gauge = await free()) === '1000', 'the concurrency gauge back at 1000', 2_000).catch(() => undefined);
      assert.ok(started > 0, 'some requests were admitted');
      assert.deepEqual(
        open,
        [],
        `${open.length} of ${N} requests (${started} admitted) were still running 3 s after their client left; ` +
          `the concurrency gauge shows ${gauge} of 1000 free`,
      );
      assert.equal(gauge, '1000');
    });
  });
});
