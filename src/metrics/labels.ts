/**
 * Label hygiene for the hot path: bounded values and cached children (bounded
 * labels keep the series count fixed; no label lookups per observation).
 */

/** The value a label takes when it would otherwise grow without bound. */
export const OTHER = 'other';

/**
 * A last line of defence for one label dimension. The router already bounds `modelLabel` and auth
 * bounds `key`; this keeps a bug upstream of metrics from turning into unbounded series. Values
 * known from config always pass; up to `spare` unknown values pass too (first come); after that,
 * every new value becomes `other`.
 */
export class LabelBound {
  private readonly seen: Set<string>;
  private max: number;

  constructor(known: Iterable<string>, spare: number) {
    this.seen = new Set(known);
    this.max = this.seen.size + spare;
  }

  /** Configured names added by a configuration reload: always their own value, spares kept. */
  know(values: Iterable<string>): void {
    for (const v of values) {
      if (this.seen.has(v)) continue;
      this.seen.add(v);
      this.max++;
    }
  }

  get(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
}

/**
 * Labelled children of one metric, created once per label-value combination and reused
 * (prom-client's `labels()` builds a label object, validates and hashes it on every call).
 * Callers pass values already bounded, so the map stays as small as the series set.
 */
export class Children<T> {
  private readonly map = new Map<string, T>();

  constructor(private readonly make: (...values: string[]) => T) {}

  get1(a: string): T {
    let c = this.map.get(a);
    if (c === undefined) this.map.set(a, (c = this.make(a)));
    return c;
  }

  get2(a: string, b: string): T {
    const k = a + '\u0000' + b;
    let c = this.map.get(k);
    if (c === undefined) this.map.set(k, (c = this.make(a, b)));
    return c;
  }

  get3(a: string, b: string, c3: string): T {
    const k = a + '\u0000' + b + '\u0000' + c3;
    let c = this.map.get(k);
    if (c === undefined) this.map.set(k, (c = this.make(a, b, c3)));
    return c;
  }

  get4(a: string, b: string, c3: string, d: string): T {
    const k = a + '\u0000' + b + '\u0000' + c3 + '\u0000' + d;
    let c = this.map.get(k);
    if (c === undefined) this.map.set(k, (c = this.make(a, b, c3, d)));
    return c;
  }
}
