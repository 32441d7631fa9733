/**
 * Why src/metrics/fast-histogram.ts exists (brief: hand-written code only where a benchmark
 * shows the library costs too much — this is that benchmark). Observes N values into a cached
 * labelled child of prom-client's Histogram and of FastHistogram, with the inter-token buckets.
 *
 *   node --import=tsx bench/histogram.bench.ts
 */
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../src/metrics/fast-histogram.js';
import { BUCKETS } from '../src/metrics.js';

const N = 2_000_000;
const buckets = [...BUCKETS.interToken];
const values = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 2000) / 1000);

function time(label: string, observe: (v: number) => void): number {
  for (let i = 0; i < 100_000; i++) observe(values[i & 4095]!); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) observe(values[i & 4095]!);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${label.padEnd(28)} ${ns.toFixed(1)} ns/observe`);
  return ns;
}

const prom = new Histogram({ name: 'h_prom', help: 'x', labelNames: ['model'], buckets, registers: [new Registry()] });
const promChild = prom.labels('sim-*');
const fast = new FastHistogram({ name: 'h_fast', help: 'x', labelNames: ['model'], buckets, registers: [new Registry()] });
const fastChild = fast.labels('sim-*');

const a = time('prom-client (cached child)', (v) => promChild.observe(v));
const b = time('FastHistogram (cached child)', (v) => fastChild.observe(v));
console.log(`ratio prom-client / fast: ${(a / b).toFixed(1)}x; per 256-token stream: ${((a * 255) / 1000).toFixed(1)} µs vs ${((b * 255) / 1000).toFixed(1)} µs`);
