/**
 * The benchmark suite (bench/README.md). `npm run bench` (full, ~15 min) or `npm run bench -- --quick`
 * (~1.5 min). Options: `--only latency,throughput,json,features,slow`, `--reps N`, `--slow-sizes 2000`,
 * `--upstream mock|sim` (default mock: bench/mock-upstream.ts; sim: the built-in simulator),
 * `--proxy-b path/to/main.js` (a second proxy build, e.g. a patched copy of dist/ kept under the
 * repository so it resolves node_modules, measured as target `proxy-b` in scenarios 1, 2 and 4:
 * an optimisation is kept only if this shows it).
 *
 * Starts, as separate processes: the upstream, the raw byte pipe in front of it (the floor), the
 * proxy from dist/ with its default config routed to the upstream, and the load generator. Runs
 * the same load against direct (the upstream itself) / pipe / proxy, interleaved (A B C, B C A,
 * …) and repeated; prints medians over the repetitions and ratios to the pipe from the same run;
 * writes everything to bench/results/<date>.json. CPU time and RSS come from /proc, never from
 * inside the measured process. See bench/README.md for what each scenario means.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadJob, LoadResult } from './load.js';
import { cpuMs, loadAverage, memKb, RssSampler } from './lib/os-stats.js';
import { median, rotation } from './lib/stats.js';
import {
  DEFAULT_VARIANT, ensureBuilt, LoadClient, ROOT, startPipe, startProxy, startUpstream, type ProxyVariant, type Server,
} from './lib/targets.js';
import { guardChildren } from './lib/procs.js';
import { startRedis, type RedisSrv } from '../test/helpers/services.js';

// ---------------------------------------------------------------------------------------------
// parameters

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    reps: { type: 'string' },
    upstream: { type: 'string', default: 'mock' },
    'proxy-b': { type: 'string' },
    'proxy-b-flags': { type: 'string' },
    /** e.g. `--slow-sizes 2000`: the concurrent slow-stream counts of scenario 3 ("Many slow streams"). */
    'slow-sizes': { type: 'string' },
  },
});
const QUICK = args.quick === true;
const SCENARIOS = ['latency', 'throughput', 'json', 'features', 'slow'] as const;
type Scenario = (typeof SCENARIOS)[number];
const only = new Set((args.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()));
for (const s of only) if (!SCENARIOS.includes(s as Scenario)) throw new Error(`--only: unknown scenario "${s}" (${SCENARIOS.join(', ')})`);
const UPSTREAM = args.upstream === 'sim' ? 'sim' : 'mock';
const PROXY_B = args['proxy-b'] ? path.resolve(args['proxy-b']) : null;
/** Node flags for proxy-b (`--proxy-b-flags=--single-threaded-gc`): the same build under other V8 settings. */
/** The slow scenarios start a fresh process per run: the build under test's, and `--proxy-b`'s when given. */
const SLOW_TARGETS = ['direct', 'pipe', 'proxy', ...(args['proxy-b'] ? ['proxy-b'] : [])];
const PROXY_B_FLAGS = args['proxy-b-flags'] ? args['proxy-b-flags'].split(/\s+/).filter(Boolean) : [];

const P = {
  reps: Number(args.reps ?? (QUICK ? 2 : 3)),
  /** Streams (and a quarter as many JSON requests) each process is warmed with, off the record: same JIT exposure for all. */
  warmupCount: QUICK ? 400 : 3_000,
  /** Scenario 1: 256 tokens, no delay; count × c requests per run (and at most runMaxMs). */
  latency: { concurrency: [1, 4, 16], tokens: 256, count: QUICK ? 100 : 1_000, runMaxMs: QUICK ? 1_500 : 12_000 },
  /** Scenario 2: c=64 for 20 s. */
  throughput: { concurrency: 64, tokens: 256, durationMs: QUICK ? 2_000 : 20_000 },
  /** Scenario 3: slow streams (100 tokens, one per 20 ms, first after 20 ms), fresh pipe/proxy per run. */
  slow: { sizes: args['slow-sizes'] ? args['slow-sizes'].split(',').map(Number) : QUICK ? [1_000] : [2_000, 5_000], tokens: 100, reps: QUICK ? 1 : 3, rampMs: 1_000, maxMs: 180_000 },
  /**
   * Scenario 3b: the same number of streams held open at once, 20 tokens one per second (5,000
   * frames/s instead of 250,000), so RSS per open stream is measured with every stream open even
   * where a target cannot keep up with scenario 3's frame rate. Needs the mock (`bench-delay-…` model).
   */
  hold: { size: QUICK ? 1_000 : 5_000, tokens: QUICK ? 5 : 20, delayMs: 1_000, rampMs: 1_000, maxMs: 120_000 },
  /** Scenario 4: non-streaming, c=32. */
  json: { concurrency: 32, tokens: 256, durationMs: QUICK ? 1_000 : 10_000 },
  /** Scenario 5: feature costs, as scenario 2 but shorter, against proxy variants. */
  features: { concurrency: 64, tokens: 256, durationMs: QUICK ? 1_000 : 10_000, reps: QUICK ? 1 : 3 },
};
const TOKEN_DELAY_MS = 20;
const FAST_MODEL = 'sim-fast'; // no delays, in the mock and in the simulator
const SLOW_MODEL = 'bench-slow';
/** Everything, hard: the run is killed past this. */
const BUDGET_MS = QUICK ? 6 * 60_000 : 45 * 60_000;

const log = (s: string): void => void process.stdout.write(s + '\n');

// ---------------------------------------------------------------------------------------------
// measuring one run

/** Something the load is aimed at: the upstream itself, the pipe, or a proxy. */
interface Target {
  name: string;
  server: Server;
  /** The process between the load and the upstream (null for direct). */
  pid: number | null;
}

/** One load job against one target, with what the OS says it cost. */
interface Run {
  scenario: string;
  rep: number;
  target: string;
  job: Omit<LoadJob, 'headers' | 'url'>;
  result: LoadResult;
  /** CPU time during the job, ms: the target process, the upstream, the load generator. */
  cpuMs: { target: number | null; upstream: number; load: number };
  /** Target RSS before the job and its peak during it (sampled every 50 ms), KiB; VmHWM after. */
  rssKb: { before: number; peak: number; hwm: number } | null;
}

interface Ctx {
  load: LoadClient;
  upstream: Server;
  runs: Run[];
  problems: string[];
}

async function measure(ctx: Ctx, scenario: string, rep: number, t: Target, job: Omit<LoadJob, 'url' | 'headers'>): Promise<Run> {
  const cpu = (pid: number | null): number => (pid === null ? 0 : cpuMs(pid));
  const c0 = [cpu(t.pid), cpuMs(ctx.upstream.pid), cpuMs(ctx.load.pid)];
  const before = t.pid === null ? null : memKb(t.pid).rssKb;
  const sampler = new RssSampler(t.pid === null ? [] : [t.pid]);
  sampler.start();
  const result = await ctx.load.run({ ...job, url: t.server.chatUrl, headers: t.server.headers });
  const peaks = sampler.stop();
  const c1 = [cpu(t.pid), cpuMs(ctx.upstream.pid), cpuMs(ctx.load.pid)];
  const run: Run = {
    scenario,
    rep,
    target: t.name,
    job,
    result,
    cpuMs: { target: t.pid === null ? null : c1[0]! - c0[0]!, upstream: c1[1]! - c0[1]!, load: c1[2]! - c0[2]! },
    rssKb: t.pid === null ? null : { before: before!, peak: peaks.get(t.pid) ?? before!, hwm: memKb(t.pid).hwmKb },
  };
  ctx.runs.push(run);
  const r = result;
  const bad = r.corrupted + r.errored;
  const cpuPer = run.cpuMs.target === null || r.ok === 0 ? '' : `, ${(run.cpuMs.target / r.ok).toFixed(3)} CPU ms each`;
  log(`  [${scenario} rep ${rep + 1}] ${t.name.padEnd(14)} ${r.ok}/${r.started} ok, ${r.perSecond.toFixed(0)}/s, ttft p50 ${r.ttft.p50.toFixed(2)} ms${cpuPer}` +
    (bad ? `  !! ${r.corrupted} corrupted, ${r.errored} errored: ${JSON.stringify(r.failures)}` : ''));
  if (bad) ctx.problems.push(`${scenario} rep ${rep + 1} ${t.name}: ${r.corrupted} corrupted, ${r.errored} errored ${JSON.stringify(r.failures)}`);
  if (t.server.proc.exitCode !== null) throw new Error(`${t.name} exited during ${scenario}: ${t.server.stderrTail()}`);
  return run;
}

const streamJob = (tokens: number, concurrency: number, more: Partial<LoadJob> = {}): Omit<LoadJob, 'url' | 'headers'> => ({
  model: FAST_MODEL, tokens, stream: true, concurrency, count: 1e9, durationMs: 0, maxMs: 60_000, rampMs: 0, gaps: false, ...more,
});

async function warmUp(ctx: Ctx, t: Target, count = P.warmupCount): Promise<void> {
  // JIT and connection pools warm, off the record; by count, so every process gets the same.
  await ctx.load.run({ ...streamJob(256, 16, { count }), url: t.server.chatUrl, headers: t.server.headers });
  await ctx.load.run({ ...streamJob(256, 8, { count: count / 4, stream: false }), url: t.server.chatUrl, headers: t.server.headers });
}

// ---------------------------------------------------------------------------------------------
// summaries

const med = (runs: Run[], f: (r: Run) => number): number => median(runs.map(f));
const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (a: number, b: number): number => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);
const table = (head: string[], rows: string[][]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function select(ctx: Ctx, scenario: string, target?: string): Run[] {
  return ctx.runs.filter((r) => r.scenario === scenario && (target === undefined || r.target === target));
}

/** Per-rep difference target − direct of a figure, median over reps. */
function added(ctx: Ctx, scenario: string, target: string, f: (r: Run) => number): number {
  const diffs: number[] = [];
  for (const run of select(ctx, scenario, target)) {
    const direct = select(ctx, scenario, 'direct').find((d) => d.rep === run.rep);
    if (direct) diffs.push(f(run) - f(direct));
  }
  return median(diffs);
}

const cpuPer = (r: Run): number => (r.cpuMs.target === null || r.result.ok === 0 ? NaN : r.cpuMs.target / r.result.ok);
const util = (ms: number | null, r: Run): number => (ms === null ? NaN : (100 * ms) / r.result.wallMs);

interface Figures {
  [name: string]: number;
}

function latencySummary(ctx: Ctx, names: string[], figures: Figures): string {
  const out: string[] = [];
  for (const c of P.latency.concurrency) {
    const sc = `latency-c${c}`;
    const rows = names.map((t) => {
      const rs = select(ctx, sc, t);
      const a = (f: (r: Run) => number): string => (t === 'direct' ? '—' : fmt(added(ctx, sc, t, f), 3));
      return [t, fmt(med(rs, (r) => r.result.ttft.p50), 3), fmt(med(rs, (r) => r.result.ttft.p99), 3), fmt(med(rs, (r) => r.result.total.p50), 3),
        fmt(med(rs, (r) => r.result.total.p99), 3), a((r) => r.result.ttft.p50), a((r) => r.result.ttft.p99), a((r) => r.result.total.p50), a((r) => r.result.total.p99)];
    });
    const rt = (f: (r: Run) => number): number => ratio(added(ctx, sc, 'proxy', f), added(ctx, sc, 'pipe', f));
    const r = [rt((x) => x.result.ttft.p50), rt((x) => x.result.ttft.p99), rt((x) => x.result.total.p50), rt((x) => x.result.total.p99)];
    rows.push(['**proxy / pipe** (added)', '', '', '', '', ...r.map((x) => `**${fmt(x)}×**`)]);
    if (names.includes('proxy-b')) {
      const rb = (f: (r: Run) => number): string => `${fmt(ratio(added(ctx, sc, 'proxy-b', f), added(ctx, sc, 'pipe', f)))}×`;
      rows.push(['proxy-b / pipe (added)', '', '', '', '', rb((x) => x.result.ttft.p50), rb((x) => x.result.ttft.p99), rb((x) => x.result.total.p50), rb((x) => x.result.total.p99)]);
    }
    figures[`latency_c${c}_added_ttft_p50_ratio`] = r[0]!;
    figures[`latency_c${c}_added_ttft_p50_ms_proxy`] = added(ctx, sc, 'proxy', (x) => x.result.ttft.p50);
    figures[`latency_c${c}_added_ttft_p50_ms_pipe`] = added(ctx, sc, 'pipe', (x) => x.result.ttft.p50);
    out.push(`**c = ${c}** (${P.latency.tokens} tokens, no delay; ms)\n\n` +
      table(['target', 'TTFT p50', 'TTFT p99', 'total p50', 'total p99', '+TTFT p50', '+TTFT p99', '+total p50', '+total p99'], rows));
  }
  return out.join('\n\n');
}

function throughputRows(ctx: Ctx, sc: string, targets: string[], base = 'pipe'): { rows: string[][]; per: Map<string, { sps: number; cpu: number }> } {
  const per = new Map<string, { sps: number; cpu: number }>();
  for (const t of targets) {
    const rs = select(ctx, sc, t);
    per.set(t, { sps: med(rs, (r) => r.result.perSecond), cpu: med(rs, cpuPer) });
  }
  const rows = targets.map((t) => {
    const rs = select(ctx, sc, t);
    const p = per.get(t)!;
    const b = per.get(base);
    return [t, fmt(p.sps, 0), fmt(med(rs, (r) => r.result.tokensPerSecond), 0), fmt(p.cpu, 3), fmt(med(rs, (r) => util(r.cpuMs.target, r)), 0),
      fmt(med(rs, (r) => util(r.cpuMs.upstream, r)), 0), fmt(med(rs, (r) => util(r.cpuMs.load, r)), 0),
      fmt(med(rs, (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN)), 0), t === base || t === 'direct' || !b ? '—' : `${fmt(ratio(p.sps, b.sps))}×`,
      t === base || t === 'direct' || !b ? '—' : `${fmt(ratio(p.cpu, b.cpu))}×`, String(rs.reduce((n, r) => n + r.result.corrupted + r.result.errored, 0))];
  });
  return { rows, per };
}

const THROUGHPUT_HEAD = ['target', 'streams/s', 'tokens/s', 'CPU ms/stream', 'target CPU %', 'upstream CPU %', 'load gen CPU %', 'peak RSS MB', 'streams/s vs pipe', 'CPU/stream vs pipe', 'bad'];

function throughputSummary(ctx: Ctx, names: string[], figures: Figures): string {
  const { rows, per } = throughputRows(ctx, 'throughput', names);
  figures.throughput_ratio = ratio(per.get('proxy')!.sps, per.get('pipe')!.sps);
  figures.cpu_per_stream_ratio = ratio(per.get('proxy')!.cpu, per.get('pipe')!.cpu);
  figures.cpu_per_stream_ms_proxy = per.get('proxy')!.cpu;
  figures.cpu_per_stream_ms_pipe = per.get('pipe')!.cpu;
  return `c = ${P.throughput.concurrency}, ${P.throughput.tokens} tokens, ${P.throughput.durationMs / 1000} s per run\n\n` + table(THROUGHPUT_HEAD, rows);
}

function jsonSummary(ctx: Ctx, names: string[], figures: Figures): string {
  const per = new Map<string, { rps: number; cpu: number }>();
  for (const t of names) {
    const rs = select(ctx, 'json', t);
    per.set(t, { rps: med(rs, (r) => r.result.perSecond), cpu: med(rs, cpuPer) });
  }
  const pipe = per.get('pipe')!;
  const rows = [...per].map(([t, p]) => {
    const rs = select(ctx, 'json', t);
    return [t, fmt(p.rps, 0), fmt(med(rs, (r) => r.result.total.p50), 3), fmt(med(rs, (r) => r.result.total.p99), 3), fmt(p.cpu, 3),
      t === 'pipe' || t === 'direct' ? '—' : `${fmt(ratio(p.rps, pipe.rps))}×`, t === 'pipe' || t === 'direct' ? '—' : `${fmt(ratio(p.cpu, pipe.cpu))}×`,
      String(rs.reduce((n, r) => n + r.result.corrupted + r.result.errored, 0))];
  });
  figures.json_cpu_ratio = ratio(per.get('proxy')!.cpu, pipe.cpu);
  return `c = ${P.json.concurrency}, ${P.json.tokens}-token answers, ${P.json.durationMs / 1000} s per run\n\n` +
    table(['target', 'req/s', 'latency p50 ms', 'latency p99 ms', 'CPU ms/req', 'req/s vs pipe', 'CPU/req vs pipe', 'bad'], rows);
}

function slowSummary(ctx: Ctx, figures: Figures): string {
  const out: string[] = [];
  for (const size of P.slow.sizes) {
    const sc = `slow-${size}`;
    // Per stream the proxy holds: most requests in flight at once (all of them when nothing queues).
    const kbPer = (r: Run): number => (r.rssKb && r.result.maxInFlight > 0 ? (r.rssKb.peak - r.rssKb.before) / r.result.maxInFlight : NaN);
    const pipeKb = med(select(ctx, sc, 'pipe'), kbPer);
    const rows = SLOW_TARGETS.map((t) => {
      const rs = select(ctx, sc, t);
      const sum = (f: (r: LoadResult) => number): number => rs.reduce((n, r) => n + f(r.result), 0);
      const kb = med(rs, kbPer);
      return [t, `${sum((r) => r.ok)}/${sum((r) => r.started)}`, String(sum((r) => r.corrupted)), String(sum((r) => r.errored)), fmt(med(rs, (r) => r.result.maxInFlight), 0), fmt(med(rs, (r) => r.result.maxOpen), 0),
        fmt(med(rs, (r) => r.result.wallMs / 1000), 1), fmt(med(rs, (r) => r.result.gap?.p50 ?? NaN)), fmt(med(rs, (r) => r.result.gap?.p99 ?? NaN)),
        t === 'direct' ? '—' : fmt(added(ctx, sc, t, (r) => r.result.gap?.p99 ?? NaN)), fmt(med(rs, (r) => r.result.ttft.p50), 0), fmt(med(rs, cpuPer), 2),
        fmt(med(rs, (r) => (r.rssKb ? r.rssKb.before / 1024 : NaN)), 0), fmt(med(rs, (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN)), 0), fmt(kb, 1),
        t.startsWith('proxy') ? `${fmt(ratio(kb, pipeKb))}×` : '—'];
    });
    const proxyRuns = select(ctx, sc, 'proxy');
    const bRuns = select(ctx, sc, 'proxy-b');
    if (bRuns.length > 0) {
      figures[`slow_${size}_rss_per_stream_kb_proxy_b`] = med(bRuns, kbPer);
      figures[`slow_${size}_rss_peak_mb_proxy`] = med(proxyRuns, (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN));
      figures[`slow_${size}_rss_peak_mb_proxy_b`] = med(bRuns, (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN));
    }
    figures[`slow_${size}_rss_per_stream_ratio`] = ratio(med(proxyRuns, kbPer), pipeKb);
    figures[`slow_${size}_rss_per_stream_kb_proxy`] = med(proxyRuns, kbPer);
    figures[`slow_${size}_rss_per_stream_kb_pipe`] = pipeKb;
    figures[`slow_${size}_proxy_all_ok`] = proxyRuns.length > 0 && proxyRuns.every((r) => r.result.ok === size && r.result.corrupted + r.result.errored === 0) ? 1 : 0;
    figures[`slow_${size}_added_gap_p99_ms_proxy`] = added(ctx, sc, 'proxy', (r) => r.result.gap?.p99 ?? NaN);
    figures[`slow_${size}_added_gap_p99_ms_pipe`] = added(ctx, sc, 'pipe', (r) => r.result.gap?.p99 ?? NaN);
    out.push(`**${size} concurrent streams** (${P.slow.tokens} tokens, one per ${TOKEN_DELAY_MS} ms, opened over ${P.slow.rampMs / 1000} s; ` +
      `fresh pipe/proxy${PROXY_B ? '/proxy-b' : ''} per run; nominal wall time ${((P.slow.rampMs + P.slow.tokens * TOKEN_DELAY_MS) / 1000).toFixed(0)} s)\n\n` +
      table(['target', 'ok', 'corrupted', 'errored', 'max in flight', 'max streaming', 'wall s', 'gap p50 ms', 'gap p99 ms', '+gap p99 ms', 'TTFT p50 ms', 'CPU ms/stream', 'RSS before MB', 'RSS peak MB', 'KB per open stream', 'KB/stream vs pipe'], rows));
  }
  const hold = select(ctx, 'hold');
  if (hold.length > 0) {
    // Here every stream is open at once (max streaming = size), so that is the denominator.
    const kbOpen = (r: Run): number => (r.rssKb && r.result.maxOpen > 0 ? (r.rssKb.peak - r.rssKb.before) / r.result.maxOpen : NaN);
    const pipeKb = med(select(ctx, 'hold', 'pipe'), kbOpen);
    const proxyKb = med(select(ctx, 'hold', 'proxy'), kbOpen);
    figures.hold_rss_per_stream_ratio = ratio(proxyKb, pipeKb);
    figures.hold_rss_per_stream_kb_proxy = proxyKb;
    figures.hold_rss_per_stream_kb_pipe = pipeKb;
    const rows = hold.map((r) => [r.target, `${r.result.ok}/${r.result.started}`, String(r.result.corrupted), String(r.result.errored), String(r.result.maxOpen),
      fmt(r.result.wallMs / 1000, 1), fmt(r.result.gap?.p99 ?? NaN), fmt(r.result.ttft.p50, 0), fmt(cpuPer(r), 2),
      r.rssKb ? fmt(r.rssKb.before / 1024, 0) : 'n/a', r.rssKb ? fmt(r.rssKb.peak / 1024, 0) : 'n/a', fmt(kbOpen(r), 1),
      r.target.startsWith('proxy') ? `${fmt(ratio(kbOpen(r), pipeKb))}×` : '—']);
    const holdB = select(ctx, 'hold', 'proxy-b');
    if (holdB.length > 0) {
      figures.hold_rss_per_stream_kb_proxy_b = med(holdB, kbOpen);
      figures.hold_rss_peak_mb_proxy = med(select(ctx, 'hold', 'proxy'), (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN));
      figures.hold_rss_peak_mb_proxy_b = med(holdB, (r) => (r.rssKb ? r.rssKb.peak / 1024 : NaN));
    }
    out.push(`**${P.hold.size} streams held open** (${P.hold.tokens} tokens, one per ${P.hold.delayMs / 1000} s: every stream open at once; fresh pipe/proxy)\n\n` +
      table(['target', 'ok', 'corrupted', 'errored', 'max streaming', 'wall s', 'gap p99 ms', 'TTFT p50 ms', 'CPU ms/stream', 'RSS before MB', 'RSS peak MB', 'KB per open stream', 'KB/stream vs pipe'], rows));
  }
  return out.join('\n\n');
}

interface Variant {
  name: string;
  v: ProxyVariant;
}

/** The feature comparisons: [label, with feature, without feature]. */
const FEATURE_PAIRS: Array<[string, string, string]> = [
  ['metrics (on vs off)', 'proxy-default', 'proxy-no-metrics'],
  ['rate limiting, memory (key with rpm+tpm+concurrency vs no keys)', 'proxy-limits-mem', 'proxy-default'],
  ['rate limiting, Redis (vs no keys)', 'proxy-limits-redis', 'proxy-default'],
  ['rate limiting, Redis vs memory', 'proxy-limits-redis', 'proxy-limits-mem'],
  ['logging content (on vs off)', 'proxy-log-content', 'proxy-default'],
  ['request log (info vs silent)', 'proxy-default', 'proxy-log-silent'],
  // Not a feature but the benchmark that keeps the hand-written HTTP/1.1 client (src/upstream/h1/) honest.
  ['own HTTP/1.1 upstream client (vs node:http)', 'proxy-default', 'proxy-node-client'],
];

function featuresSummary(ctx: Ctx, variants: Variant[], figures: Figures): string {
  const names = ['pipe', ...variants.map((v) => v.name)];
  const { rows, per } = throughputRows(ctx, 'features', names);
  const pairs = FEATURE_PAIRS.filter(([, a, b]) => per.has(a) && per.has(b) && select(ctx, 'features', a).length && select(ctx, 'features', b).length).map(([label, a, b]) => {
    const on = per.get(a)!;
    const off = per.get(b)!;
    figures[`feature_${a}_vs_${b}_cpu_ratio`] = ratio(on.cpu, off.cpu);
    return [label, `${a} / ${b}`, `${fmt(ratio(on.sps, off.sps))}×`, `${fmt(ratio(on.cpu, off.cpu))}×`, fmt(on.cpu - off.cpu, 3)];
  });
  return `c = ${P.features.concurrency}, ${P.features.tokens} tokens, ${P.features.durationMs / 1000} s per run; fresh proxies (default config and one change each), ` +
    `each warmed with ${P.warmupCount} streams, interleaved with the pipe\n\n` +
    table(THROUGHPUT_HEAD, rows) + '\n\n' + table(['feature', 'with / without', 'streams/s ratio', 'CPU/stream ratio', '+CPU ms/stream'], pairs);
}

function targetsSummary(figures: Figures): string {
  const biggest = Math.max(...P.slow.sizes);
  const f = (k: string): number => figures[k] ?? NaN;
  const row = (figure: string, target: string, measured: number, ok: (x: number) => boolean, detail = ''): string[] =>
    [figure, target, Number.isFinite(measured) ? `${fmt(measured)}×${detail}` : 'not run', Number.isFinite(measured) ? (ok(measured) ? 'met' : '**missed**') : '—'];
  const rows = [
    row('added TTFT p50, c=1', '≤ 1.1× pipe', f('latency_c1_added_ttft_p50_ratio'), (x) => x <= 1.1,
      ` (${fmt(f('latency_c1_added_ttft_p50_ms_proxy'), 3)} vs ${fmt(f('latency_c1_added_ttft_p50_ms_pipe'), 3)} ms)`),
    row('proxy CPU per 256-token stream', '≤ 1.3× pipe', f('cpu_per_stream_ratio'), (x) => x <= 1.3,
      ` (${fmt(f('cpu_per_stream_ms_proxy'), 3)} vs ${fmt(f('cpu_per_stream_ms_pipe'), 3)} ms)`),
    row('streaming throughput, c=64', '≥ 0.85× pipe', f('throughput_ratio'), (x) => x >= 0.85),
    row(`RSS per open slow stream (${P.hold.size} held open)`, '≤ 1.0× pipe', f('hold_rss_per_stream_ratio'), (x) => x <= 1.0,
      ` (${fmt(f('hold_rss_per_stream_kb_proxy'), 1)} vs ${fmt(f('hold_rss_per_stream_kb_pipe'), 1)} KB)`),
    row(`RSS per request in flight (${biggest} at 20 ms/token)`, '≤ 1.0× pipe', f(`slow_${biggest}_rss_per_stream_ratio`), (x) => x <= 1.0,
      ` (${fmt(f(`slow_${biggest}_rss_per_stream_kb_proxy`), 1)} vs ${fmt(f(`slow_${biggest}_rss_per_stream_kb_pipe`), 1)} KB)`),
    row('non-streaming CPU per request', '≤ 2× pipe', f('json_cpu_ratio'), (x) => x <= 2),
  ];
  const all = figures[`slow_${biggest}_proxy_all_ok`];
  rows.push([`${biggest} concurrent slow streams${biggest < 5000 ? ' (quick: not 5,000)' : ''}`, 'all complete, 0 errors, 0 corrupted',
    all === undefined ? 'not run' : all === 1 ? 'all complete' : 'failures (see above)', all === undefined ? '—' : all === 1 && biggest >= 5000 ? 'met' : all === 1 ? 'met at this size' : '**missed**']);
  return table(['figure', 'target', 'measured (proxy / pipe)', 'verdict'], rows);
}

// ---------------------------------------------------------------------------------------------
// the run

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  let ulimit = 'unknown';
  try {
    ulimit = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  } catch {
    /* keep unknown */
  }
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, openFilesHardLimit: ulimit };
}

async function main(): Promise<void> {
  const started = new Date();
  const { children, stopAll, disarm } = guardChildren(BUDGET_MS, log);

  ensureBuilt(log);
  const load0 = loadAverage();
  // Other work on the machine skews everything: keep the highest 1-minute load seen during the run.
  let loadMax = load0[0];
  const loadTimer = setInterval(() => (loadMax = Math.max(loadMax, loadAverage()[0])), 5_000);
  loadTimer.unref();
  log(`llm-proxy bench${QUICK ? ' --quick' : ''}: upstream ${UPSTREAM}, ${P.reps} reps, load average ${load0.join(' ')}`);
  if (load0[0] > 0.5 * os.cpus().length) log(`  note: the machine is busy (load ${load0[0]} on ${os.cpus().length} CPUs): numbers will be noisy`);

  const upstream = await startUpstream({ kind: UPSTREAM, ttftMs: TOKEN_DELAY_MS, tokenDelayMs: TOKEN_DELAY_MS });
  children.push(upstream);
  const pipe = await startPipe(upstream);
  children.push(pipe);
  const proxy = await startProxy(upstream, DEFAULT_VARIANT);
  children.push(proxy);
  const load = LoadClient.start();
  children.push(load);
  const ctx: Ctx = { load, upstream, runs: [], problems: [] };
  const main3: Target[] = [
    { name: 'direct', server: upstream, pid: null },
    { name: 'pipe', server: pipe, pid: pipe.pid },
    { name: 'proxy', server: proxy, pid: proxy.pid },
  ];
  if (PROXY_B) {
    const b = await startProxy(upstream, DEFAULT_VARIANT, 'proxy-b', PROXY_B_FLAGS, PROXY_B);
    children.push(b);
    main3.push({ name: 'proxy-b', server: b, pid: b.pid });
  }
  const names = main3.map((t) => t.name);
  const sections: string[] = [];
  const figures: Figures = {};
  let variants: Variant[] = [];

  try {
    for (const t of main3) await warmUp(ctx, t);

    if (only.has('latency')) {
      log('latency: 256 tokens, no delay, c = 1, 4, 16');
      for (let rep = 0; rep < P.reps; rep++) {
        for (const c of P.latency.concurrency) {
          for (const t of rotation(main3, rep)) {
            await measure(ctx, `latency-c${c}`, rep, t, streamJob(P.latency.tokens, c, { count: P.latency.count * c, durationMs: P.latency.runMaxMs }));
          }
        }
      }
      sections.push('### 1. Latency\n\n' + latencySummary(ctx, names, figures));
    }

    if (only.has('throughput')) {
      log(`throughput: c = 64, ${P.throughput.durationMs / 1000} s per run`);
      for (let rep = 0; rep < P.reps; rep++) {
        for (const t of rotation(main3, rep)) {
          await measure(ctx, 'throughput', rep, t, streamJob(P.throughput.tokens, P.throughput.concurrency, { durationMs: P.throughput.durationMs }));
        }
      }
      sections.push('### 2. Throughput\n\n' + throughputSummary(ctx, names, figures));
    }

    if (only.has('json')) {
      log(`non-streaming: c = 32, ${P.json.durationMs / 1000} s per run`);
      for (let rep = 0; rep < P.reps; rep++) {
        for (const t of rotation(main3, rep)) {
          await measure(ctx, 'json', rep, t, streamJob(P.json.tokens, P.json.concurrency, { stream: false, durationMs: P.json.durationMs }));
        }
      }
      sections.push('### 4. Non-streaming\n\n' + jsonSummary(ctx, names, figures));
    }

    if (only.has('features')) {
      log('feature costs: proxy variants');
      let redis: RedisSrv | null = null;
      try {
        redis = await startRedis();
        children.push(redis);
      } catch (err) {
        log(`  redis-server unavailable, skipping the Redis variant: ${(err as Error).message}`);
      }
      // Fresh processes for every variant, the default one too: the main proxy has run the other
      // scenarios, and a longer-lived heap (fewer GCs) would flatter it against new processes.
      const defs: Variant[] = [
        { name: 'proxy-default', v: DEFAULT_VARIANT },
        { name: 'proxy-no-metrics', v: { ...DEFAULT_VARIANT, metrics: false } },
        { name: 'proxy-log-silent', v: { ...DEFAULT_VARIANT, logLevel: 'silent' } },
        { name: 'proxy-log-content', v: { ...DEFAULT_VARIANT, logContent: true } },
        { name: 'proxy-limits-mem', v: { ...DEFAULT_VARIANT, limits: true } },
        { name: 'proxy-node-client', v: { ...DEFAULT_VARIANT, upstreamClient: 'node' } },
        ...(redis ? [{ name: 'proxy-limits-redis', v: { ...DEFAULT_VARIANT, limits: true, redisUrl: redis.url } }] : []),
      ];
      variants = defs;
      const targets: Target[] = [main3[1]!];
      for (const d of defs) {
        const s = await startProxy(upstream, d.v, d.name);
        children.push(s);
        const t = { name: d.name, server: s, pid: s.pid };
        await warmUp(ctx, t);
        targets.push(t);
      }
      for (let rep = 0; rep < P.features.reps; rep++) {
        for (const t of rotation(targets, rep)) {
          await measure(ctx, 'features', rep, t, streamJob(P.features.tokens, P.features.concurrency, { durationMs: P.features.durationMs }));
        }
      }
      for (const t of targets.slice(1)) {
        await t.server.stop();
        children.splice(children.indexOf(t.server), 1);
      }
      sections.push('### 5. Feature costs (ratios to the proxy without the feature)\n\n' + featuresSummary(ctx, variants, figures));
    }

    if (only.has('slow')) {
      /**
       * Measure `job` against a fresh pipe / proxy (or direct), so "RSS per open stream" is not
       * hidden by a heap grown in earlier scenarios. The warm-up is a few slow streams only: a
       * bigger one grows the heap first, and the streams measured would fit in memory it holds.
       */
      const onFresh = async (name: string, label: string, rep: number, job: ReturnType<typeof streamJob>): Promise<void> => {
        let t: Target = main3[0]!;
        let fresh: Server | null = null;
        if (name !== 'direct') {
          fresh =
            name === 'pipe'
              ? await startPipe(upstream)
              : name === 'proxy-b' && PROXY_B
                ? await startProxy(upstream, DEFAULT_VARIANT, 'proxy-b', PROXY_B_FLAGS, PROXY_B)
                : await startProxy(upstream, DEFAULT_VARIANT);
          children.push(fresh);
          t = { name, server: fresh, pid: fresh.pid };
          await ctx.load.run({ ...streamJob(P.slow.tokens, 32, { model: SLOW_MODEL, count: 64 }), url: fresh.chatUrl, headers: fresh.headers });
          await new Promise((r) => setTimeout(r, 1_000));
        }
        await measure(ctx, label, rep, t, job);
        if (fresh) {
          await fresh.stop();
          children.splice(children.indexOf(fresh), 1);
        }
      };
      log(`slow streams: ${P.slow.sizes.join(', ')} concurrent, ${P.slow.tokens} tokens at ${TOKEN_DELAY_MS} ms`);
      for (const size of P.slow.sizes) {
        for (let rep = 0; rep < P.slow.reps; rep++) {
          for (const name of rotation(SLOW_TARGETS, rep + size)) {
            await onFresh(name, `slow-${size}`, rep, streamJob(P.slow.tokens, size, {
              model: SLOW_MODEL, count: size, rampMs: P.slow.rampMs, maxMs: P.slow.maxMs, gaps: true,
            }));
          }
        }
      }
      if (UPSTREAM === 'mock') {
        const h = P.hold;
        log(`held streams: ${h.size} concurrent, ${h.tokens} tokens at ${h.delayMs} ms`);
        for (const name of SLOW_TARGETS) {
          await onFresh(name, 'hold', 0, streamJob(h.tokens, h.size, {
            model: `bench-delay-${h.delayMs}ms`, count: h.size, rampMs: h.rampMs, maxMs: h.maxMs, gaps: true,
          }));
        }
      }
      sections.push('### 3. Many slow streams\n\n' + slowSummary(ctx, figures));
    }
  } finally {
    await stopAll();
    disarm();
  }

  clearInterval(loadTimer);
  const load1 = loadAverage();
  loadMax = Math.max(loadMax, load1[0]);
  const m = machine();
  const flags = [QUICK ? '--quick' : '', args.only ? `--only ${args.only}` : '', args.reps ? `--reps ${args.reps}` : '', UPSTREAM !== 'mock' ? `--upstream ${UPSTREAM}` : '',
    PROXY_B ? `--proxy-b ${path.relative(ROOT, PROXY_B)}` : '', PROXY_B_FLAGS.length ? `--proxy-b-flags="${PROXY_B_FLAGS.join(' ')}"` : ''].filter(Boolean);
  const command = `npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}`;
  const header = `Run ${started.toISOString()}${QUICK ? ' (**--quick**: short runs, indicative only)' : ''}: \`${command}\`, upstream ${UPSTREAM}, ` +
    `${P.reps} interleaved reps (medians), ${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Linux ${m.kernel}, Node ${m.node}; ` +
    `1-min load average ${load0[0]} at start, ${load1[0]} at end, ${loadMax} at most (the run itself keeps ~2 busy).`;
  const order = ['### 1.', '### 2.', '### 3.', '### 4.', '### 5.'];
  sections.sort((a, b) => order.findIndex((o) => a.startsWith(o)) - order.findIndex((o) => b.startsWith(o)));
  const markdown = [header, '### Targets (issue 6)\n\n' + targetsSummary(figures), ...sections].join('\n\n');
  log('\n' + markdown);
  if (ctx.problems.length) log(`\n!! ${ctx.problems.length} runs had failed or corrupted responses:\n${ctx.problems.join('\n')}`);

  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify({ started: started.toISOString(), command, quick: QUICK, upstream: UPSTREAM, machine: m, loadAverage: { start: load0, end: load1, max: loadMax },
    params: P, figures, problems: ctx.problems, markdown, runs: ctx.runs }, null, 1));
  log(`\nresults: ${path.relative(ROOT, file)} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
  if (ctx.problems.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
