/**
 * Memory per open stream, from the inside (bench/README.md "Heap per open stream").
 *
 *   node --import=tsx bench/heap.ts [--streams 5000] [--proxy path/to/main.js] [--snapshot] [--node-flags=--max-semi-space-size=4]
 *                                   [--warmup bench|fast] [--target proxy|pipe] [--tokens 20 --delay-ms 1000]
 *
 * Starts the mock upstream and the proxy (dist/, default config), warms it up, then holds
 * `--streams` streams open at once (20 tokens, one per second, opened over 1 s) and samples every
 * 2 s: the proxy's RSS (from /proc) and its V8 heap used / total and external memory (from its own
 * /metrics). It prints the peak and the growth per open stream. `npm run bench` measures RSS from
 * the outside; this tells how much of it is live heap, and `--snapshot` says whose: it writes a
 * heap snapshot with one stream open and one with all of them open (the proxy's
 * `--heapsnapshot-signal`) and prints the difference per stream by V8 object type.
 * `--keep-snapshots` leaves both files for a closer look. `--warmup bench` warms the way `npm run bench`'s held-open scenario does (64 slow streams on a
 * fresh process) instead of 2,000 fast ones; `--target pipe` measures the raw pipe's RSS instead;
 * `--tokens` and `--delay-ms` shape the held streams (long answers show what grows per token).
 */
import { readdirSync, readFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_VARIANT, ensureBuilt, LoadClient, ROOT, startPipe, startProxy, startUpstream } from './lib/targets.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '5000' },
    proxy: { type: 'string' },
    snapshot: { type: 'boolean', default: false },
    'keep-snapshots': { type: 'boolean', default: false },
    'node-flags': { type: 'string' },
    warmup: { type: 'string', default: 'fast' },
    tokens: { type: 'string', default: '20' },
    'delay-ms': { type: 'string', default: '1000' },
    target: { type: 'string', default: 'proxy' },
  },
});
const N = Number(values.streams);
const SNAPSHOT = values.snapshot === true;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Bytes and object count per V8 type:constructor. */
function byType(file: string): Map<string, [number, number]> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < s.nodes.length; i += f.length) {
    const t = types[s.nodes[i + iType]!]!;
    const name = t.includes('string') ? '' : s.strings[s.nodes[i + iName]!]!.slice(0, 50);
    const k = `${t}:${name}`;
    const v = out.get(k) ?? [0, 0];
    v[0] += s.nodes[i + iSize]!;
    v[1]++;
    out.set(k, v);
  }
  return out;
}

async function main(): Promise<void> {
  ensureBuilt((s) => console.log(s));
  const dir = path.join(ROOT, 'bench/profiles', `heap-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  if (SNAPSHOT) mkdirSync(dir, { recursive: true }); // only where snapshots go: no empty directory per run
  const upstream = await startUpstream({ kind: 'mock', ttftMs: 20, tokenDelayMs: 20 });
  const flags = SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [];
  if (values['node-flags']) flags.push(...values['node-flags'].split(/\s+/).filter(Boolean));
  const PIPE = values.target === 'pipe';
  const proxy = PIPE ? await startPipe(upstream, flags) : await startProxy(upstream, DEFAULT_VARIANT, 'proxy', flags, values.proxy ? path.resolve(values.proxy) : undefined);
  const load = LoadClient.start();
  const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  /** The proxy's own view of its heap (the pipe has no /metrics: NaN there); `spaces`: size per V8 space, MB. */
  const metrics = async (): Promise<{ heapUsed: number; heapTotal: number; external: number; spaces: string }> => {
    if (PIPE) return { heapUsed: NaN, heapTotal: NaN, external: NaN, spaces: '' };
    const text = await (await fetch(`${proxy.origin}/metrics`)).text();
    const get = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    const spaces = [...text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\S+)/gm)].map((m) => `${m[1]} ${(Number(m[2]) / 1048576).toFixed(1)}`).join(', ');
    return { heapUsed: get('nodejs_heap_size_used_bytes'), heapTotal: get('nodejs_heap_size_total_bytes'), external: get('nodejs_external_memory_bytes'), spaces };
  };
  const snapshot = async (): Promise<string> => {
    const before = new Set(readdirSync(dir));
    process.kill(proxy.pid, 'SIGUSR2');
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      // Written when its size stops changing.
      if (file) {
        const size = (): number => statSync(path.join(dir, file)).size;
        const a = size();
        await new Promise((r) => setTimeout(r, 1000));
        if (size() === a && a > 0) return path.join(dir, file);
      }
    }
    throw new Error('no heap snapshot written');
  };
  const held = (count: number) =>
    load.run({ model: `bench-delay-${values['delay-ms']}ms`, tokens: Number(values.tokens), stream: true, concurrency: count, count, durationMs: 0, maxMs: 120_000, rampMs: 1_000, gaps: true, url: proxy.chatUrl, headers: proxy.headers });
  try {
    if (values.warmup === 'bench') {
      await load.run({ model: 'bench-slow', tokens: 100, stream: true, concurrency: 32, count: 64, durationMs: 0, maxMs: 60_000, rampMs: 0, gaps: false, url: proxy.chatUrl, headers: proxy.headers });
      await new Promise((r) => setTimeout(r, 1_000));
    } else {
      await load.run({ model: 'sim-fast', tokens: 256, stream: true, concurrency: 16, count: 2_000, durationMs: 0, maxMs: 60_000, rampMs: 0, gaps: false, url: proxy.chatUrl, headers: proxy.headers });
    }
    let one: string | null = null;
    if (SNAPSHOT) {
      const r = held(1);
      await new Promise((res) => setTimeout(res, 3_000));
      one = await snapshot();
      await r;
    }
    const base = { rss: rssMb(), ...(await metrics()) };
    console.log(`before: RSS ${base.rss.toFixed(0)} MB, heap used ${base.heapUsed.toFixed(0)} MB of ${base.heapTotal.toFixed(0)}, external ${base.external.toFixed(0)} MB; ${base.spaces}`);
    const run = held(N);
    let peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, spaces: '' };
    let all: string | null = null;
    for (let t = 2; t <= 20; t += 2) {
      await new Promise((r) => setTimeout(r, 2_000));
      const now = { rss: rssMb(), ...(await metrics()) };
      peak = { rss: Math.max(peak.rss, now.rss), heapUsed: Math.max(peak.heapUsed, now.heapUsed), heapTotal: Math.max(peak.heapTotal, now.heapTotal), external: Math.max(peak.external, now.external), spaces: '' };
      console.log(`t+${t}s: RSS ${now.rss.toFixed(0)} MB, heap used ${now.heapUsed.toFixed(0)} of ${now.heapTotal.toFixed(0)}, external ${now.external.toFixed(0)}; ${now.spaces}`);
      if (SNAPSHOT && t === 6) all = await snapshot();
    }
    const result = await run;
    const kb = (mb: number): string => ((mb * 1024) / N).toFixed(1);
    console.log(`\n${result.ok}/${N} streams ok, ${result.errored} errored, ${result.corrupted} corrupted`);
    console.log(`per open stream (peak − before): RSS ${kb(peak.rss - base.rss)} KB${SNAPSHOT ? ' (includes what writing the snapshots took: run without --snapshot for RSS)' : ''}, ` +
      `heap used ${kb(peak.heapUsed - base.heapUsed)} KB, heap total ${kb(peak.heapTotal - base.heapTotal)} KB, external ${kb(peak.external - base.external)} KB`);
    if (one && all) {
      const a = byType(one);
      const b = byType(all);
      const rows = [...b].map(([k, [size, n]]) => [k, size - (a.get(k)?.[0] ?? 0), n - (a.get(k)?.[1] ?? 0)] as const).sort((x, y) => y[1] - x[1]);
      const total = rows.reduce((s, r) => s + r[1], 0);
      console.log(`\nheap snapshots: ${(total / N / 1024).toFixed(1)} KB more per open stream; the largest kinds:`);
      for (const [k, size, n] of rows.slice(0, 25)) console.log(`${(size / N).toFixed(0).padStart(7)} B ${(n / N).toFixed(1).padStart(6)} objects  ${k}`);
      if (values['keep-snapshots']) console.log(`snapshots kept: ${one} (one stream open), ${all} (all open)`);
      else {
        rmSync(one);
        rmSync(all);
      }
    }
  } finally {
    await load.stop();
    await proxy.stop();
    await upstream.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
