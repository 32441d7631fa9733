/**
 * Why src/logging/record-line.ts exists (brief: hand-written code only where a benchmark shows the
 * library costs too much; this is that benchmark). Logs the same request record N times through
 * our pino logger (`logger.info(logFields(r), 'request')`, what the proxy did before) and through
 * the template line into the same destination (what it does now): a file descriptor on /dev/null,
 * synchronous, as the proxy's stdout is in `npm run bench`. Rounds alternate; medians are printed.
 *
 *   node --import=tsx bench/record-line.bench.ts
 */
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { createLogger, lineWriter } from '../src/logging/logger.js';
import { logFields } from '../src/logging/record.js';
import { recordLine } from '../src/logging/record-line.js';
import type { RequestRecord } from '../src/events/types.js';
import { GapStats } from '../src/events/gaps.js';

const gaps = new GapStats();
for (let i = 0; i < 255; i++) gaps.add(8 + (i % 7));

const N = 200_000;
const record: RequestRecord = {
  id: 'req_8f14e45fceea167a5a36dedd', method: 'POST', route: '/v1/chat/completions', key: 'team-a', model: 'gpt-4o-mini',
  modelLabel: 'gpt-4o-mini', upstream: 'openai', stream: true, status: 200, endReason: 'done', startedAt: Date.now(),
  upstreamTtfbMs: 212.431, ttftMs: 214.02, durationMs: 2391.113, overheadMs: 0.412, chunks: 258, bytesOut: 48_213,
  promptTokens: 1_204, completionTokens: 256, tokenSource: 'upstream', finishReason: 'stop',
  attempts: [{ upstream: 'openai', status: 200, error: null, durationMs: 2390.5 }], error: null,
  interToken: gaps,
};

const logger = createLogger({ level: 'info', destination: pino.destination({ fd: openSync('/dev/null', 'w'), sync: true }) });
const write = lineWriter(logger)!;
const variants: Record<string, () => void> = {
  'pino (logger.info)': () => logger.info(logFields(record), 'request'),
  'template line': () => write(recordLine(record, 30, new Date().toISOString())),
};
const runs: Record<string, number[]> = {};
for (let round = 0; round < 5; round++) {
  for (const [name, fn] of Object.entries(variants)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    (runs[name] ??= []).push(Number(process.hrtime.bigint() - t0) / N / 1000);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, xs] of Object.entries(runs)) console.log(`${name.padEnd(20)} ${median(xs).toFixed(2)} µs per record (median of ${xs.length} rounds of ${N})`);
