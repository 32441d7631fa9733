import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { GapStats, INTER_TOKEN_BOUNDS_MS } from '../../src/events/gaps.js';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';
import { BUCKETS } from '../../src/metrics/definitions.js';

/** A gap in ms, often right on a bucket bound. */
const gap = fc.oneof(fc.constantFrom(...INTER_TOKEN_BOUNDS_MS), fc.double({ min: 0, max: 5_000, noNaN: true }), fc.integer({ min: 0, max: 3_000 }));

describe('inter-token gaps, summarised as they come (issue 6)', () => {
  it('the histogram fed the summary equals the histogram fed every gap (2,000 random requests)', async () => {
    assert.deepEqual([...BUCKETS.interToken], INTER_TOKEN_BOUNDS_MS.map((ms) => ms / 1000), 'one set of bounds');
    await fc.assert(
      fc.asyncProperty(fc.array(gap, { maxLength: 300 }), async (gaps) => {
        const registry = new Registry();
        const each = new FastHistogram({ name: 'each', help: 'h', labelNames: ['model'], buckets: BUCKETS.interToken, registers: [registry] });
        const summed = new FastHistogram({ name: 'summed', help: 'h', labelNames: ['model'], buckets: BUCKETS.interToken, registers: [registry] });
        const stats = new GapStats();
        for (const g of gaps) {
          stats.add(g);
          each.labels('m').observe(g / 1000);
        }
        if (stats.buckets !== null) summed.labels('m').addBuckets(stats.buckets, stats.sumMs / 1000);
        const [a, b] = [(await each.get()).values, (await summed.get()).values];
        assert.equal(a.length, b.length);
        for (let i = 0; i < a.length; i++) {
          assert.equal(a[i]!.metricName?.replace('each', ''), b[i]!.metricName?.replace('summed', ''));
          assert.deepEqual(a[i]!.labels, b[i]!.labels);
          if (a[i]!.metricName === 'each_sum') assert.ok(Math.abs(a[i]!.value - b[i]!.value) <= 1e-9 * Math.max(1, a[i]!.value));
          else assert.equal(a[i]!.value, b[i]!.value);
        }
        assert.equal(stats.count, gaps.length);
        assert.equal(stats.maxMs, gaps.reduce((m, g) => (g > m ? g : m), 0));
      }),
      { numRuns: 2_000 },
    );
  });

  it('keeps a fixed size however long the answer (a list grew by 8 bytes a token)', () => {
    const stats = new GapStats();
    for (let i = 0; i < 100_000; i++) stats.add(i % 2_500);
    assert.equal(stats.buckets!.length, INTER_TOKEN_BOUNDS_MS.length + 1);
    assert.equal(stats.buckets!.reduce((s, n) => s + n, 0), 100_000);
    assert.equal(stats.buckets!.at(-1), 100_000 / 2_500 * 499, 'gaps above 2 s counted in +Inf');
  });

  it('a histogram refuses counts over other bounds instead of mixing them', async () => {
    const h = new FastHistogram({ name: 'h', help: 'h', labelNames: ['model'], buckets: [1, 2], registers: [new Registry()] });
    h.labels('m').addBuckets([1, 2, 3, 4], 10);
    h.labels('m').addBuckets([0, 0, 0], 0);
    const v = (await h.get()).values;
    assert.equal(v.length, 0, 'nothing exported');
  });
});
