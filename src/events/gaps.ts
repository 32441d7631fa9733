/**
 * Inter-token gaps of one request, summarised as they happen (memory per open stream: bench/heap.ts).
 * A list of every gap grew by 8 bytes a token (a 4,000-token answer held 32 KB until its end);
 * this is a few counters and a bucket count per histogram bucket, whatever the length. It keeps
 * what its readers use: the mean and max for the log line, and the bucket counts the inter-token
 * histogram adds at the end of the request. Pure: imports nothing.
 */

/** Bucket upper bounds of the inter-token histogram, ms: 1 ms (batched fast decoding) to 2 s (a stall). */
export const INTER_TOKEN_BOUNDS_MS: readonly number[] = [1, 2.5, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500, 1000, 2000];

/** What a finished request's gaps come to. */
export interface GapSummary {
  /** Gaps seen (content tokens after the first). */
  readonly count: number;
  /** Their sum, ms, added in order. */
  readonly sumMs: number;
  /** The longest, ms (0 when none). */
  readonly maxMs: number;
  /**
   * Gaps per bucket of {@link INTER_TOKEN_BOUNDS_MS}, not cumulative, the last for gaps above the
   * last bound; null when there were none.
   */
  readonly buckets: readonly number[] | null;
}

/** A request without gaps. */
export const NO_GAPS: GapSummary = Object.freeze({ count: 0, sumMs: 0, maxMs: 0, buckets: null });

/** The gaps of one request, as they come. */
export class GapStats implements GapSummary {
  count = 0;
  sumMs = 0;
  maxMs = 0;
  buckets: number[] | null = null;

  /** One gap, ms. The bucket is the first bound it does not exceed (a histogram's `le`). */
  add(ms: number): void {
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    const bounds = INTER_TOKEN_BOUNDS_MS;
    const b = (this.buckets ??= new Array<number>(bounds.length + 1).fill(0));
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    b[i]!++;
  }
}
