/**
 * A histogram for the hot path (docs/ARCHITECTURE.md "Performance rules"). prom-client's
 * `Histogram` validates the label set, rebuilds its hash string and allocates on every `observe`,
 * even through a cached `labels()` child: ≈320 ns per call measured on this machine, i.e. ≈80 µs of
 * CPU for the inter-token gaps of one 256-token stream. Here a child is a plain object with its own
 * bucket array, and `observe` is a short linear scan plus three additions (≈10 ns).
 *
 * It registers in a prom-client `Registry` like any metric and exposes the same `get()` /
 * `getForPromString()` shapes as prom-client's `Histogram`, so `registry.metrics()` and
 * `getMetricsAsJSON()` render it byte-for-byte as prom-client would (test/unit/metrics.test.ts
 * checks that against a real `Histogram`).
 */
import type { Metric, Registry } from 'prom-client';

export interface HistogramChild {
  /** Record one value, in base units. Non-finite values are ignored (never throw in the relay). */
  observe(value: number): void;
  /**
   * Add values counted elsewhere over the same bounds: `counts[i]` per bucket (not cumulative,
   * the last one `+Inf`), `sum` their sum in base units. Ignored if the counts do not fit.
   */
  addBuckets(counts: readonly number[], sum: number): void;
}

export interface FastHistogramOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  /** Upper bounds, ascending; `+Inf` is implicit. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

/** The value rows prom-client's registry formats (`getForPromString()` shape). */
interface ValueRow {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  metricName: string;
  exemplar?: null | undefined;
}

class Series implements HistogramChild {
  /** Per-bucket counts (not cumulative); the last slot is `+Inf`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** False after a reset, until the next observation puts the series back in its histogram. */
  attached = false;

  constructor(
    private readonly owner: FastHistogram,
    readonly key: string,
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
    if (!this.attached) this.owner.attach(this);
  }

  addBuckets(counts: readonly number[], sum: number): void {
    if (counts.length !== this.counts.length || !Number.isFinite(sum)) return;
    let n = 0;
    for (let i = 0; i < counts.length; i++) {
      this.counts[i]! += counts[i]!;
      n += counts[i]!;
    }
    if (n === 0) return;
    this.sum += sum;
    this.count += n;
    if (!this.attached) this.owner.attach(this);
  }
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  /** Every child ever handed out, by label values (so cached children survive a reset). */
  private readonly children = new Map<string, Series>();
  /** Series with data since the last reset, in first-observed order (what is exported). */
  private readonly live = new Map<string, Series>();

  constructor(opts: FastHistogramOptions) {
    for (let i = 1; i < opts.buckets.length; i++) {
      if (!(opts.buckets[i]! > opts.buckets[i - 1]!)) throw new Error(`${opts.name}: buckets must ascend`);
    }
    if (opts.labelNames.includes('le')) throw new Error('le is a reserved label name');
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames;
    this.bounds = [...opts.buckets];
    for (const r of opts.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The child for these label values, in `labelNames` order. Cache it: this call builds a key. */
  labels(...values: string[]): HistogramChild {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.join('\u0000');
    let s = this.children.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = new Series(this, key, labels, this.bounds);
      this.children.set(key, s);
    }
    return s;
  }

  /** @internal called by a series on its first observation since a reset. */
  attach(s: Series): void {
    s.attached = true;
    this.live.set(s.key, s);
  }

  /** Drop every series from the output (prom-client semantics); children stay valid. */
  reset(): void {
    for (const s of this.children.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
      s.attached = false;
    }
    this.live.clear();
  }

  /** Rows for the registry's text format: bucket rows carry the series labels as `sharedLabels`. */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: ValueRow[]; aggregator: 'sum' }> {
    const values: ValueRow[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.live.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Rows for `getMetricsAsJSON()`: series labels merged in, as prom-client's `Histogram#get`. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: ValueRow[]; aggregator: 'sum' }> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...row }) => ({ ...row, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
