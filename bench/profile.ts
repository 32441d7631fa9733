/**
 * CPU profile of the proxy under the throughput load (bench/README.md "CPU profile").
 *
 *   node --import=tsx bench/profile.ts [--seconds 15] [--scenario stream|json] [--top 30] [--proxy path/to/main.js] [--pipe]
 *                                      [--model bench-delay-20ms --concurrency 1000 --tokens 100]
 *
 * `--model bench-delay-20ms` (the mock's per-request delays) with `--concurrency` and `--tokens`
 * profiles slow streams (one token per read) instead of whole streams written at once.
 *
 * `--pipe` profiles the raw pipe (bench/raw-pipe.ts) under the same load instead: the floor's own
 * profile, to tell what any node:http proxy pays from what ours adds.
 *
 * Starts the mock upstream, the proxy from dist/ under `node --cpu-prof` with its default config,
 * and the load generator; runs c=64 streams of 256 tokens (or c=32 non-streaming requests) for
 * the given time; stops the proxy (SIGTERM: it exits and V8 writes the profile); then prints the
 * functions with the most self time and the same time grouped by module. The .cpuprofile stays
 * in bench/profiles/ (open it in Chrome DevTools or speedscope for a flame graph).
 */
import { readdirSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadAverage } from './lib/os-stats.js';
import { readProfile, summariseProfile } from './lib/cpu-profile.js';
import { DEFAULT_VARIANT, ensureBuilt, LoadClient, ROOT, startPipe, startProxy, startUpstream } from './lib/targets.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    scenario: { type: 'string', default: 'stream' },
    top: { type: 'string', default: '30' },
    proxy: { type: 'string' },
    pipe: { type: 'boolean', default: false },
    model: { type: 'string', default: 'sim-fast' },
    concurrency: { type: 'string' },
    tokens: { type: 'string', default: '256' },
  },
});
const SECONDS = Number(values.seconds);
const STREAM = values.scenario !== 'json';
const TOP = Number(values.top);

async function main(): Promise<void> {
  ensureBuilt((s) => console.log(s));
  const dir = path.join(ROOT, 'bench/profiles', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  const upstream = await startUpstream({ kind: 'mock', ttftMs: 20, tokenDelayMs: 20 });
  const main = values.proxy ? path.resolve(values.proxy) : undefined;
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const proxy = values.pipe ? await startPipe(upstream, flags) : await startProxy(upstream, DEFAULT_VARIANT, 'proxy', flags, main);
  const load = LoadClient.start();
  const job = {
    url: proxy.chatUrl, headers: proxy.headers, model: values.model, tokens: Number(values.tokens), stream: STREAM,
    concurrency: values.concurrency ? Number(values.concurrency) : STREAM ? 64 : 32,
    count: 1e9, durationMs: SECONDS * 1000, maxMs: SECONDS * 1000 + 60_000, rampMs: 0, gaps: false,
  };
  let result;
  try {
    await load.run({ ...job, durationMs: 2000 });
    result = await load.run(job);
  } finally {
    await load.stop();
    await proxy.stop();
    await upstream.stop();
  }
  console.log(`load average ${loadAverage().join(' ')}; ${result.ok} ${STREAM ? 'streams' : 'requests'} ok (${result.perSecond.toFixed(0)}/s), ` +
    `${result.corrupted} corrupted, ${result.errored} errored`);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir} (did the proxy exit cleanly?)`);
  const s = summariseProfile(readProfile(path.join(dir, file)));
  const pct = (us: number): string => ((100 * us) / s.total).toFixed(1).padStart(5) + '%';
  console.log(`\nprofile: ${path.relative(ROOT, path.join(dir, file))}; busy ${(s.total / 1e3).toFixed(0)} ms, idle ${(s.idle / 1e3).toFixed(0)} ms`);
  console.log(`\ntop ${TOP} functions by self time (% of busy time):`);
  for (const [k, us] of [...s.byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(us)}  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${k}`);
  console.log(`\nthe proxy's own functions by total time (self + callees):`);
  for (const [k, us] of [...s.incl].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(us)}  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${k}`);
  console.log('\nself time by module:');
  for (const [k, us] of [...s.byArea].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${k}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
