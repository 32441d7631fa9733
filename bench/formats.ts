/**
 * What the provider adapters and resumable streams cost (bench/README.md "Formats and resumable
 * streams: bench/formats.ts"), as ratios to the OpenAI path's normal stream of the same run.
 *
 *   node --import=tsx bench/formats.ts [--quick] [--reps N] [--seconds S] [--only throughput,held]
 *                                      [--held N] [--held-tokens T] [--held-reps R] [--retention-ms MS]
 *   node --import=tsx bench/formats.ts --cpu-prof anthropic,openai [--seconds S]   # profiles only
 *
 * Processes, as in bench/run.ts (bench/lib): the mock upstream (bench/mock-upstream.ts), which
 * serves the same text and token count in OpenAI's, Anthropic's and Gemini's wire formats as
 * precomputed bytes; proxies from dist/, each configured with three upstreams at the mock
 * (`type: openai`, `anthropic`, `gemini`) and routes `claude-bench*` → anthropic, `gemini-bench*` →
 * gemini, `bench-*` → openai; a redis-server for the Redis replay store; the load generator.
 *
 * 1. Throughput: every target is its own proxy process, warmed up alike, then run at c = 64
 *    (256-token streams, no delay) for a fixed time (6 s; quick 2 s), targets interleaved (rotated per
 *    repetition; 5 repetitions, quick 2).
 *    Streams/s and proxy CPU ms per stream (utime + stime from /proc over the run / streams
 *    completed), and each as the ratio to the `openai` target of the same repetition (median of
 *    the per-repetition ratios). `normal` is the same OpenAI-path stream as `openai`, on a proxy
 *    configured with Redis (the replay store unused): normal / openai is the control, the noise
 *    between two processes doing the same work.
 * 2. Held: N streams (1,000, quick 300; 20 tokens, one per second) held open at once against a
 *    fresh proxy per target and repetition (3, quick 1; normal, resumable-memory, resumable-redis,
 *    rotated): RSS per open stream = (peak RSS − RSS before) / N,
 *    the replay bytes the proxy reports holding (`llm_proxy_replay_bytes` from its /metrics, polled
 *    every 500 ms, the largest seen), and redis-server's RSS growth.
 *
 * Resumable streams are asked with `x-stream-resume: true`; the load generator then checks the
 * head (`x-stream-resumable: true`, `x-stream-id`) and an `id: <stream id>:<seq>` on every frame.
 * `resumable.retentionMs` is 1 s here (default 300 s; `--retention-ms`): at several hundred
 * streams/s of ~65 KB of frames each, the default would hold the 256 MB `maxTotalBytes` after a few
 * seconds and later streams would be refused resumption. `resumable.maxStreams` is raised above
 * the held count.
 *
 * Writes bench/results/formats-<date>.json (not committed) and prints the Markdown tables.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadJob, LoadResult } from './load.js';
import { readProfile, summariseProfile } from './lib/cpu-profile.js';
import { cpuMs, loadAverage, memKb, RssSampler } from './lib/os-stats.js';
import { median, rotation } from './lib/stats.js';
import { ensureBuilt, LoadClient, ROOT, startProxyWithConfig, startUpstream, type Server } from './lib/targets.js';
import { guardChildren } from './lib/procs.js';
import { startRedis, type RedisSrv } from '../test/helpers/services.js';

// ---------------------------------------------------------------------------------------------
// parameters

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    held: { type: 'string' },
    'held-tokens': { type: 'string' },
    'held-reps': { type: 'string' },
    'retention-ms': { type: 'string' },
    'cpu-prof': { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
const QUICK = args.quick === true;
const PARTS = ['throughput', 'held'] as const;
const only = new Set((args.only ?? PARTS.join(',')).split(',').map((s) => s.trim()));
for (const s of only) if (!PARTS.includes(s as (typeof PARTS)[number])) throw new Error(`--only: unknown part "${s}" (${PARTS.join(', ')})`);

const P = {
  reps: Number(args.reps ?? (QUICK ? 2 : 5)),
  /** Streams each proxy is warmed with before the runs (same JIT exposure for all). */
  warmupCount: QUICK ? 400 : 3_000,
  throughput: { concurrency: 64, tokens: 256, durationMs: Number(args.seconds ?? (QUICK ? 2 : 6)) * 1000 },
  held: {
    size: Number(args.held ?? (QUICK ? 300 : 1_000)),
    tokens: Number(args['held-tokens'] ?? (QUICK ? 5 : 20)),
    reps: Number(args['held-reps'] ?? (QUICK ? 1 : 3)),
    delayMs: 1_000,
    rampMs: 1_000,
    maxMs: 120_000,
  },
  retentionMs: Number(args['retention-ms'] ?? 1_000),
};
/** Everything, hard: the run is stopped past this. */
const BUDGET_MS = (QUICK ? 6 : 25) * 60_000;

const log = (s: string): void => void process.stdout.write(s + '\n');

/** Machine-wide CPU ticks from /proc/stat: all, and stolen by the hypervisor (other tenants of a VM). */
function cpuTicks(): { total: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

// ---------------------------------------------------------------------------------------------
// targets

type Store = 'memory' | 'redis';

/** One thing measured: a model (which upstream format) and a mode, on a proxy configured with `store`. */
interface TargetDef {
  name: string;
  /** The model asked for: its route picks the upstream's wire format. */
  model: string;
  resumable: boolean;
  /** The proxy's replay store: `redis` = the config names Redis (`redisUrl`). */
  store: Store;
  what: string;
}

const FAST = 'bench-fast';
const THROUGHPUT_TARGETS: TargetDef[] = [
  { name: 'openai', model: FAST, resumable: false, store: 'memory', what: 'OpenAI-format upstream, normal stream (the baseline)' },
  { name: 'anthropic', model: 'claude-bench-fast', resumable: false, store: 'memory', what: 'Anthropic Messages upstream, translated' },
  { name: 'gemini', model: 'gemini-bench-fast', resumable: false, store: 'memory', what: 'Gemini upstream (LF frames), translated' },
  { name: 'gemini-crlf', model: 'gemini-bench-crlf-fast', resumable: false, store: 'memory', what: 'Gemini upstream, CRLF frames, translated' },
  { name: 'resumable-memory', model: FAST, resumable: true, store: 'memory', what: 'OpenAI path, x-stream-resume: true, memory store' },
  { name: 'resumable-redis', model: FAST, resumable: true, store: 'redis', what: 'OpenAI path, x-stream-resume: true, Redis store' },
  { name: 'normal', model: FAST, resumable: false, store: 'redis', what: 'OpenAI path, normal stream, proxy configured with Redis (control)' },
];
const HELD_TARGETS = ['normal', 'resumable-memory', 'resumable-redis'];

function proxyConfig(mock: Server, redisUrl: string | null, port: number): string {
  return [
    `server: { host: 127.0.0.1, port: ${port} }`,
    'upstreams:',
    `  bench-openai: { type: openai, baseUrl: "${mock.origin}/v1" }`,
    `  bench-anthropic: { type: anthropic, baseUrl: "${mock.origin}", apiKey: "sk-ant-bench" }`,
    `  bench-gemini: { type: gemini, baseUrl: "${mock.origin}/v1beta", apiKey: "bench-gemini-key" }`,
    'models:',
    '  - { match: "claude-bench*", upstream: bench-anthropic }',
    '  - { match: "gemini-bench*", upstream: bench-gemini }',
    '  - { match: "bench-*", upstream: bench-openai }',
    'logging: { level: info, content: false }',
    'metrics: { enabled: true }',
    `resumable: { retentionMs: ${P.retentionMs}, maxStreams: ${Math.max(1000, P.held.size + 500)} }`,
    ...(redisUrl ? [`redisUrl: "${redisUrl}"`] : []),
  ].join('\n') + '\n';
}

interface Live {
  def: TargetDef;
  server: Server;
}

interface Run {
  part: 'throughput' | 'held';
  rep: number;
  target: string;
  result: LoadResult;
  /** CPU ms during the job: the proxy, the mock, the load generator, redis-server. */
  cpuMs: { proxy: number; upstream: number; load: number; redis: number };
  /** Proxy RSS before and its peak during the job (sampled every 50 ms), KiB; redis-server's too. */
  rssKb: { before: number; peak: number; redisBefore: number; redisPeak: number };
  /** Held runs: the largest `llm_proxy_replay_bytes` / `llm_proxy_replay_streams` / V8 heap used seen, and heap used before. */
  replay?: { bytes: number; streams: number; heapUsed: number; heapUsedBefore: number };
  /** Share of the machine's CPU time stolen by the hypervisor during the job, % (noise from other VMs). */
  stealPct: number;
}

interface Ctx {
  load: LoadClient;
  mock: Server;
  redis: RedisSrv | null;
  runs: Run[];
  problems: string[];
}

function jobFor(def: TargetDef, server: Server, more: Partial<LoadJob>): LoadJob {
  return {
    url: server.chatUrl,
    model: def.model,
    tokens: P.throughput.tokens,
    stream: true,
    concurrency: P.throughput.concurrency,
    count: 1e9,
    durationMs: 0,
    maxMs: 60_000,
    rampMs: 0,
    gaps: false,
    headers: def.resumable ? { ...server.headers, 'x-stream-resume': 'true' } : server.headers,
    resumable: def.resumable,
    ...more,
  };
}

/** `name value` lines of the proxy's /metrics. */
async function scrape(server: Server, names: string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.origin}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const n of names) out[n] = Number(new RegExp(`^${n}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return out;
}

async function measure(ctx: Ctx, part: Run['part'], rep: number, t: Live, job: LoadJob, pollReplay = false): Promise<Run> {
  const pid = t.server.pid;
  const redisPid = ctx.redis?.proc.pid ?? null;
  for (const [name, c] of [[t.def.name, t.server.proc], ['mock', ctx.mock.proc], ['load generator', ctx.load.child.proc], ['redis-server', ctx.redis?.proc]] as const) {
    if (c && (c.exitCode !== null || c.signalCode !== null)) {
      throw new Error(`${name} is gone (exit ${c.exitCode}, signal ${c.signalCode})${name === t.def.name ? `: ${t.server.stderrTail()}` : name === 'mock' ? `: ${ctx.mock.stderrTail()}` : ''}`);
    }
  }
  const cpu = (): number[] => [cpuMs(pid), cpuMs(ctx.mock.pid), cpuMs(ctx.load.pid), redisPid === null ? 0 : cpuMs(redisPid)];
  const rss0 = memKb(pid).rssKb;
  const redis0 = redisPid === null ? NaN : memKb(redisPid).rssKb;
  const sampler = new RssSampler(redisPid === null ? [pid] : [pid, redisPid]);
  let replay: Run['replay'];
  let poll: NodeJS.Timeout | null = null;
  const METRICS = ['llm_proxy_replay_bytes', 'llm_proxy_replay_streams', 'nodejs_heap_size_used_bytes'];
  if (pollReplay) {
    const m0 = await scrape(t.server, METRICS);
    const r = (replay = { bytes: 0, streams: 0, heapUsed: 0, heapUsedBefore: m0.nodejs_heap_size_used_bytes ?? NaN });
    poll = setInterval(() => {
      scrape(t.server, METRICS).then((m) => {
        r.bytes = Math.max(r.bytes, m.llm_proxy_replay_bytes ?? 0);
        r.streams = Math.max(r.streams, m.llm_proxy_replay_streams ?? 0);
        r.heapUsed = Math.max(r.heapUsed, m.nodejs_heap_size_used_bytes ?? 0);
      }, () => undefined);
    }, 500);
  }
  const ticks0 = cpuTicks();
  const c0 = cpu();
  sampler.start();
  const result = await ctx.load.run(job);
  const peaks = sampler.stop();
  const c1 = cpu();
  const ticks1 = cpuTicks();
  if (poll) clearInterval(poll);
  const run: Run = {
    part, rep, target: t.def.name, result,
    cpuMs: { proxy: c1[0]! - c0[0]!, upstream: c1[1]! - c0[1]!, load: c1[2]! - c0[2]!, redis: c1[3]! - c0[3]! },
    rssKb: { before: rss0, peak: peaks.get(pid) ?? rss0, redisBefore: redis0, redisPeak: redisPid === null ? NaN : (peaks.get(redisPid) ?? redis0) },
    ...(replay ? { replay } : {}),
    stealPct: (100 * (ticks1.steal - ticks0.steal)) / Math.max(1, ticks1.total - ticks0.total),
  };
  ctx.runs.push(run);
  const r = result;
  const bad = r.corrupted + r.errored;
  log(`  [${part} rep ${rep + 1}] ${t.def.name.padEnd(17)} ${r.ok}/${r.started} ok, ${r.perSecond.toFixed(0)}/s, ` +
    `${r.ok ? (run.cpuMs.proxy / r.ok).toFixed(3) : 'n/a'} CPU ms each, steal ${run.stealPct.toFixed(1)}%` +
    (replay ? `, replay bytes max ${(replay.bytes / 1048576).toFixed(1)} MB` : '') +
    (bad ? `  !! ${r.corrupted} corrupted, ${r.errored} errored: ${JSON.stringify(r.failures)}` : ''));
  if (bad) ctx.problems.push(`${part} rep ${rep + 1} ${t.def.name}: ${r.corrupted} corrupted, ${r.errored} errored ${JSON.stringify(r.failures)}`);
  if (t.server.proc.exitCode !== null) throw new Error(`${t.def.name} exited during ${part}: ${t.server.stderrTail()}`);
  return run;
}

// ---------------------------------------------------------------------------------------------
// summaries

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (a: number, b: number): number => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);
const table = (head: string[], rows: string[][]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const cpuPer = (r: Run): number => (r.result.ok === 0 ? NaN : r.cpuMs.proxy / r.result.ok);
const util = (ms: number, r: Run): number => (100 * ms) / r.result.wallMs;
const bad = (rs: Run[]): number => rs.reduce((n, r) => n + r.result.corrupted + r.result.errored, 0);

type Figures = Record<string, number>;

/** Per repetition: f(target) / f(base) (or minus). */
function perRepAll(ctx: Ctx, target: string, base: string, f: (r: Run) => number, op: 'ratio' | 'diff'): number[] {
  const out: number[] = [];
  for (const r of ctx.runs.filter((x) => x.part === 'throughput' && x.target === target)) {
    const b = ctx.runs.find((x) => x.part === 'throughput' && x.target === base && x.rep === r.rep);
    if (b) out.push(op === 'ratio' ? ratio(f(r), f(b)) : f(r) - f(b));
  }
  return out;
}

/** Per repetition: f(target) / f(base) (or minus), median over repetitions. */
function perRep(ctx: Ctx, target: string, base: string, f: (r: Run) => number, op: 'ratio' | 'diff'): number {
  return median(perRepAll(ctx, target, base, f, op));
}

function throughputSummary(ctx: Ctx, targets: TargetDef[], figures: Figures): string {
  const rows = targets.map((d) => {
    const rs = ctx.runs.filter((r) => r.part === 'throughput' && r.target === d.name);
    const m = (f: (r: Run) => number): number => median(rs.map(f));
    const base = d.name === 'openai';
    const sps = m((r) => r.result.perSecond);
    const cpu = m(cpuPer);
    const spsRatio = perRep(ctx, d.name, 'openai', (r) => r.result.perSecond, 'ratio');
    const cpuRatio = perRep(ctx, d.name, 'openai', cpuPer, 'ratio');
    const cpuAdded = perRep(ctx, d.name, 'openai', cpuPer, 'diff');
    figures[`${d.name}_streams_per_s`] = sps;
    figures[`${d.name}_cpu_ms_per_stream`] = cpu;
    if (!base) {
      figures[`${d.name}_streams_per_s_ratio`] = spsRatio;
      figures[`${d.name}_cpu_per_stream_ratio`] = cpuRatio;
    }
    const redisCpu = d.store === 'redis' && d.resumable ? fmt(m((r) => (r.result.ok ? r.cpuMs.redis / r.result.ok : NaN)), 3) : '—';
    const all = perRepAll(ctx, d.name, 'openai', cpuPer, 'ratio').filter(Number.isFinite);
    const range = all.length ? `${fmt(Math.min(...all))}–${fmt(Math.max(...all))}` : 'n/a';
    return [d.name, fmt(sps, 0), fmt(cpu, 3), base ? '—' : fmt(cpuAdded, 3), base ? '—' : `${fmt(spsRatio)}×`, base ? '—' : `**${fmt(cpuRatio)}×**`, base ? '—' : range,
      redisCpu, fmt(m((r) => util(r.cpuMs.proxy, r)), 0), fmt(m((r) => util(r.cpuMs.upstream, r)), 0), fmt(m((r) => util(r.cpuMs.load, r)), 0),
      fmt(m((r) => r.rssKb.peak / 1024), 0), String(bad(rs))];
  });
  return `c = ${P.throughput.concurrency}, ${P.throughput.tokens}-token streams, no delay, ${P.throughput.durationMs / 1000} s per run; ` +
    `one proxy process per target, each warmed with ${P.warmupCount} of its own streams; ratios are to \`openai\` of the same repetition (median over repetitions)\n\n` +
    table(['target', 'streams/s', 'CPU ms/stream', '+CPU ms vs openai', 'streams/s vs openai', 'CPU/stream vs openai', 'CPU ratio, each rep (min–max)', 'redis CPU ms/stream',
      'proxy CPU %', 'upstream CPU %', 'load gen CPU %', 'peak RSS MB', 'bad'], rows) +
    '\n\n' + targets.map((d) => `- \`${d.name}\`: ${d.what} (model \`${d.model}\`)`).join('\n');
}

function verdicts(figures: Figures): string {
  const f = (k: string): number => figures[k] ?? NaN;
  const row = (figure: string, target: string, x: number, ok: (x: number) => boolean): string[] =>
    [figure, target, Number.isFinite(x) ? `${fmt(x)}×` : 'not run', Number.isFinite(x) ? (ok(x) ? 'met' : '**missed**') : '—'];
  return table(['figure', 'target', 'measured', 'verdict'], [
    row('CPU per stream, Anthropic adapter / OpenAI path', '≤ 1.3×', f('anthropic_cpu_per_stream_ratio'), (x) => x <= 1.3),
    row('CPU per stream, Gemini adapter / OpenAI path', '≤ 1.3×', f('gemini_cpu_per_stream_ratio'), (x) => x <= 1.3),
    row('CPU per stream, Gemini adapter (CRLF frames) / OpenAI path', '≤ 1.3×', f('gemini-crlf_cpu_per_stream_ratio'), (x) => x <= 1.3),
    ['CPU per stream, normal / openai (control: same work, another process)', '≈ 1.00× (the noise)', Number.isFinite(f('normal_cpu_per_stream_ratio')) ? `${fmt(f('normal_cpu_per_stream_ratio'))}×` : 'not run', '—'],
  ]);
}

function heldSummary(ctx: Ctx, figures: Figures): string {
  const rows = HELD_TARGETS.flatMap((name) => {
    const rs = ctx.runs.filter((x) => x.part === 'held' && x.target === name);
    if (!rs.length) return [];
    const m = (f: (r: Run) => number): number => median(rs.map(f));
    const n = (r: Run): number => Math.max(1, r.result.maxInFlight);
    const kbOf = (r: Run): number => (r.rssKb.peak - r.rssKb.before) / n(r);
    const kb = m(kbOf);
    figures[`held_${name}_rss_kb_per_stream`] = kb;
    const replayKb = m((r) => (r.replay ? r.replay.bytes / 1024 / n(r) : NaN));
    if (name !== 'normal') figures[`held_${name}_replay_kb_per_stream`] = replayKb;
    const heapKb = m((r) => (r.replay ? (r.replay.heapUsed - r.replay.heapUsedBefore) / 1024 / n(r) : NaN));
    figures[`held_${name}_heap_used_kb_per_stream`] = heapKb;
    const each = rs.map(kbOf);
    return [[name, `${rs.reduce((a, r) => a + r.result.ok, 0)}/${rs.reduce((a, r) => a + r.result.started, 0)}`, fmt(m((r) => r.result.maxOpen), 0),
      fmt(m((r) => r.rssKb.before / 1024), 0), fmt(m((r) => r.rssKb.peak / 1024), 0), fmt(kb, 1), each.map((x) => fmt(x, 1)).join(', '), '', fmt(heapKb, 1),
      name === 'normal' ? '—' : fmt(m((r) => (r.replay?.bytes ?? NaN) / 1048576), 2), name === 'normal' ? '—' : fmt(replayKb, 1),
      name === 'resumable-redis' ? fmt(m((r) => (r.rssKb.redisPeak - r.rssKb.redisBefore) / 1024), 1) : '—', fmt(m(cpuPer), 3), String(bad(rs))]];
  });
  const normal = figures.held_normal_rss_kb_per_stream ?? NaN;
  for (const row of rows) row[7] = row[0] === 'normal' ? '—' : `${fmt(ratio(Number(row[5]), normal))}×`;
  const h = P.held;
  return `${h.size} streams of ${h.tokens} tokens, one token per ${h.delayMs / 1000} s, opened over ${h.rampMs / 1000} s (all open at once); ` +
    `a fresh proxy per target and repetition (${h.reps}, rotated; medians), warmed with 64 slow streams of its own kind; ` +
    'RSS per open stream = (peak − before) / streams in flight at once; ' +
    'heap used = the largest `nodejs_heap_size_used_bytes` seen (garbage not yet collected included); ' +
    'replay bytes = the largest `llm_proxy_replay_bytes` seen (memory store: frames held in the proxy; Redis: frames written for streams still generating, held in redis-server)\n\n' +
    table(['target', 'ok', 'max open', 'RSS before MB', 'RSS peak MB', 'KB per open stream', 'each rep', 'vs normal', 'heap used KB per stream (max − before)',
      'replay bytes MB (max)', 'replay KB per stream', 'redis-server RSS + MB', 'CPU ms/stream', 'bad'], rows);
}

// ---------------------------------------------------------------------------------------------
// the run

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version };
}

function gitState(): { head: string; dirty: string[] } {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.slice(3));
    return { head, dirty };
  } catch {
    return { head: 'unknown', dirty: [] };
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const { children, stopAll, disarm } = guardChildren(BUDGET_MS, log);

  ensureBuilt(log);
  const git = gitState();
  const load0 = loadAverage();
  let loadMax = load0[0];
  const loadTimer = setInterval(() => (loadMax = Math.max(loadMax, loadAverage()[0])), 5_000);
  loadTimer.unref();
  log(`llm-proxy formats bench${QUICK ? ' --quick' : ''}: ${P.reps} reps, load average ${load0.join(' ')}; HEAD ${git.head}` +
    (git.dirty.length ? ` with ${git.dirty.length} files changed under src/ (measured as built)` : ''));

  const ctx = {} as Ctx;
  ctx.runs = [];
  ctx.problems = [];
  const figures: Figures = {};
  const sections: string[] = [];
  try {
    ctx.mock = await startUpstream({ kind: 'mock', ttftMs: 0, tokenDelayMs: 0 });
    children.push(ctx.mock);
    try {
      ctx.redis = await startRedis();
      children.push(ctx.redis);
    } catch (err) {
      ctx.redis = null;
      log(`  redis-server unavailable, skipping the Redis targets: ${(err as Error).message}`);
    }
    ctx.load = LoadClient.start();
    children.push(ctx.load);
    const redisUrl = ctx.redis?.url ?? null;
    const usable = (d: TargetDef): boolean => d.store === 'memory' || redisUrl !== null;
    const start = async (d: TargetDef, flags: string[] = []): Promise<Live> => {
      const server = await startProxyWithConfig(`proxy-${d.name}`, (port) => proxyConfig(ctx.mock, d.store === 'redis' ? redisUrl : null, port), flags);
      children.push(server);
      return { def: d, server };
    };
    const stop = async (t: Live): Promise<void> => {
      await t.server.stop();
      children.splice(children.indexOf(t.server), 1);
    };

    if (args['cpu-prof']) {
      await profiles(ctx, args['cpu-prof'].split(',').map((s) => s.trim()), start, stop);
      return;
    }

    if (only.has('throughput')) {
      const defs = THROUGHPUT_TARGETS.filter(usable);
      log(`throughput: ${defs.map((d) => d.name).join(', ')}; c = ${P.throughput.concurrency}, ${P.throughput.durationMs / 1000} s per run`);
      const live: Live[] = [];
      for (const d of defs) {
        const t = await start(d);
        // Off the record, by count so every process gets the same JIT exposure; then a moment for
        // the last logs of a resumable warm-up to expire.
        const w = await ctx.load.run(jobFor(d, t.server, { concurrency: 16, count: P.warmupCount }));
        if (w.ok !== w.started) ctx.problems.push(`warm-up ${d.name}: ${w.corrupted} corrupted, ${w.errored} errored ${JSON.stringify(w.failures)}`);
        log(`  warmed ${d.name}: ${w.ok}/${w.started} ok${w.ok !== w.started ? ` !! ${JSON.stringify(w.failures)}` : ''}`);
        live.push(t);
      }
      await new Promise((r) => setTimeout(r, P.retentionMs + 500));
      for (let rep = 0; rep < P.reps; rep++) {
        for (const t of rotation(live, rep)) {
          await measure(ctx, 'throughput', rep, t, jobFor(t.def, t.server, { durationMs: P.throughput.durationMs }));
        }
      }
      for (const t of live) await stop(t);
      sections.push('### Throughput\n\n' + throughputSummary(ctx, defs, figures));
    }

    if (only.has('held')) {
      const h = P.held;
      log(`held: ${h.size} streams of ${h.tokens} tokens at ${h.delayMs} ms, fresh proxy per target`);
      for (let rep = 0; rep < h.reps; rep++) {
        for (const name of rotation(HELD_TARGETS, rep)) {
          const d = THROUGHPUT_TARGETS.find((x) => x.name === name)!;
          if (!usable(d)) continue;
          const t = await start(d);
          // Warm as bench/run.ts's held scenario does: a few slow streams (of this target's kind), not
          // thousands of fast ones whose garbage would grow the heap first.
          await ctx.load.run(jobFor(d, t.server, { model: 'bench-delay-20ms', tokens: 100, concurrency: 32, count: 64 }));
          await new Promise((r) => setTimeout(r, P.retentionMs + 1_000));
          await measure(ctx, 'held', rep, t, jobFor(d, t.server, {
            model: `bench-delay-${h.delayMs}ms`, tokens: h.tokens, concurrency: h.size, count: h.size, rampMs: h.rampMs, maxMs: h.maxMs,
          }), true);
          await stop(t);
        }
      }
      sections.push('### Held open\n\n' + heldSummary(ctx, figures));
    }
  } finally {
    await stopAll();
    disarm();
    clearInterval(loadTimer);
  }
  if (args['cpu-prof']) return;

  const load1 = loadAverage();
  loadMax = Math.max(loadMax, load1[0]);
  const m = machine();
  const flags = [QUICK ? '--quick' : '', args.reps ? `--reps ${args.reps}` : '', args.seconds ? `--seconds ${args.seconds}` : '', args.only ? `--only ${args.only}` : '',
    args.held ? `--held ${args.held}` : '', args['held-tokens'] ? `--held-tokens ${args['held-tokens']}` : '', args['held-reps'] ? `--held-reps ${args['held-reps']}` : '', args['retention-ms'] ? `--retention-ms ${args['retention-ms']}` : ''].filter(Boolean);
  const command = `node --import=tsx bench/formats.ts${flags.length ? ` ${flags.join(' ')}` : ''}`;
  const header = `Run ${started.toISOString()}${QUICK ? ' (**--quick**: short runs, indicative only)' : ''}: \`${command}\`, ${P.reps} interleaved reps (medians), ` +
    `${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Linux ${m.kernel}, Node ${m.node}; HEAD ${git.head}${git.dirty.length ? ` + ${git.dirty.length} uncommitted files under src/` : ''}; ` +
    `1-min load average ${load0[0]} at start, ${load1[0]} at end, ${loadMax} at most; CPU stolen by the hypervisor during the runs: ` +
    `median ${fmt(median(ctx.runs.map((r) => r.stealPct)), 1)}%, at most ${fmt(Math.max(...ctx.runs.map((r) => r.stealPct)), 1)}%.`;
  const markdown = [header, ...(only.has('throughput') ? ['### Targets\n\n' + verdicts(figures)] : []), ...sections].join('\n\n');
  log('\n' + markdown);
  if (ctx.problems.length) log(`\n!! ${ctx.problems.length} runs had failed or corrupted responses:\n${ctx.problems.join('\n')}`);

  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `formats-${started.toISOString().replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify({ started: started.toISOString(), command, quick: QUICK, machine: m, git, loadAverage: { start: load0, end: load1, max: loadMax },
    params: P, targets: THROUGHPUT_TARGETS, figures, problems: ctx.problems, markdown, runs: ctx.runs }, null, 1));
  log(`\nresults: ${path.relative(ROOT, file)} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
  if (ctx.problems.length) process.exitCode = 1;
}

/**
 * `--cpu-prof a,b`: each target's proxy under `node --cpu-prof` for the throughput load (c = 64,
 * `--seconds`, after a warm-up), stopped so V8 writes the profile; prints µs per stream by
 * function (self time) and by module, and the proxy's own functions by total time. The
 * `.cpuprofile` stays in bench/profiles/ (not committed).
 */
async function profiles(ctx: Ctx, names: string[], start: (d: TargetDef, flags: string[]) => Promise<Live>, stop: (t: Live) => Promise<void>): Promise<void> {
  const top = Number(args.top);
  for (const name of names) {
    const d = THROUGHPUT_TARGETS.find((x) => x.name === name);
    if (!d) throw new Error(`--cpu-prof: unknown target "${name}" (${THROUGHPUT_TARGETS.map((x) => x.name).join(', ')})`);
    const dir = path.join(ROOT, 'bench/profiles', `formats-${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    const t = await start(d, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    await ctx.load.run(jobFor(d, t.server, { concurrency: 16, count: P.warmupCount }));
    const r = await ctx.load.run(jobFor(d, t.server, { durationMs: P.throughput.durationMs }));
    await stop(t);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    const s = summariseProfile(readProfile(path.join(dir, file)));
    // The profile covers the warm-up too: per stream over every stream the process served.
    const streams = r.ok + P.warmupCount;
    const per = (us: number): string => (us / streams).toFixed(1).padStart(7) + ' µs';
    const pct = (us: number): string => ((100 * us) / s.total).toFixed(1).padStart(5) + '%';
    log(`\n## ${name}: ${r.ok} streams in the timed run (${r.perSecond.toFixed(0)}/s, ${r.corrupted + r.errored} bad) + ${P.warmupCount} warm-up; ` +
      `busy ${(s.total / 1e3).toFixed(0)} ms = ${(s.total / streams).toFixed(0)} µs per stream under the profiler; ${path.relative(ROOT, path.join(dir, file))}`);
    log(`\ntop ${top} functions by self time (per stream, % of busy):`);
    for (const [k, us] of [...s.byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) log(`${per(us)} ${pct(us)}  ${k}`);
    log(`\nthe proxy's own functions by total time (self + callees):`);
    for (const [k, us] of [...s.incl].sort((a, b) => b[1] - a[1]).slice(0, top)) log(`${per(us)} ${pct(us)}  ${k}`);
    log('\nself time by module:');
    for (const [k, us] of [...s.byArea].sort((a, b) => b[1] - a[1]).slice(0, 20)) log(`${per(us)} ${pct(us)}  ${k}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`formats bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
