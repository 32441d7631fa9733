/**
 * System calls per request (bench/README.md "System calls per request"): on this VM a loopback
 * write costs tens of µs, so how many a request makes matters as much as the JavaScript around
 * them.
 *
 *   node --import=tsx bench/syscalls.ts [--scenario stream|json] [--count 2000] [--pipe]
 *                                       [--model bench-delay-20ms --concurrency 200 --tokens 100]
 *
 * Starts the mock upstream and the proxy (or the raw pipe), runs `count` requests (c=8 by default) with
 * `strace -c -f` attached to the target, and prints the calls per request by name.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DEFAULT_VARIANT, ensureBuilt, LoadClient, startPipe, startProxy, startUpstream } from './lib/targets.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'json' },
    count: { type: 'string', default: '2000' },
    pipe: { type: 'boolean', default: false },
    model: { type: 'string', default: 'sim-fast' },
    concurrency: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '256' },
  },
});
const STREAM = values.scenario !== 'json';
const COUNT = Number(values.count);

async function main(): Promise<void> {
  ensureBuilt((s) => console.log(s));
  const upstream = await startUpstream({ kind: 'mock', ttftMs: 20, tokenDelayMs: 20 });
  const target = values.pipe ? await startPipe(upstream) : await startProxy(upstream, DEFAULT_VARIANT);
  const load = LoadClient.start();
  const job = { url: target.chatUrl, headers: target.headers, model: values.model, tokens: Number(values.tokens), stream: STREAM, concurrency: Number(values.concurrency), count: COUNT, durationMs: 120_000, maxMs: 180_000, rampMs: 0, gaps: false };
  try {
    await load.run({ ...job, count: 500 });
    const strace = spawn('strace', ['-c', '-f', '-p', String(target.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let report = '';
    strace.stderr.on('data', (d: Buffer) => (report += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    const result = await load.run(job);
    strace.kill('SIGINT');
    await new Promise((r) => strace.on('exit', r));
    console.log(`${values.pipe ? 'pipe' : 'proxy'}, ${STREAM ? 'stream' : 'json'}: ${result.ok} ok, ${result.corrupted} corrupted, ${result.errored} errored`);
    console.log('calls per request by name:');
    for (const line of report.split('\n')) {
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
      if (m && Number(m[1]) / result.ok >= 0.05) console.log(`  ${m[2]!.padEnd(16)} ${(Number(m[1]) / result.ok).toFixed(2)}`);
    }
  } finally {
    await load.stop();
    await target.stop();
    await upstream.stop();
  }
}

await main();
