/**
 * The request lifecycle as seen by observers (logging, metrics, the live feed). The relay fills a
 * {@link RequestRecord} and publishes events on the bus; it never knows who listens.
 */

/** Why a request ended (the `endReason` values of README "One record per request"). */
import type { GapSummary } from './gaps.js';

export type EndReason =
  | 'done'
  | 'client_aborted'
  | 'upstream_error'
  | 'upstream_truncated'
  | 'idle_timeout'
  | 'rate_limited'
  | 'shutdown'
  | 'error';

/** Where token counts came from: the upstream's `usage`, or our tokenizer. */
export type TokenSource = 'upstream' | 'estimated';

/** One try at an upstream deployment (a request lists several when it fails over: test/integration/failover.test.ts). */
export interface AttemptRecord {
  upstream: string;
  status: number | null;
  error: string | null;
  durationMs: number;
}

/** The one complete record of a request, published with `request.end` and logged once. */
export interface RequestRecord {
  id: string;
  method: string;
  route: string;
  /** The configured key name, `anonymous` when auth is off. */
  key: string;
  /** The model the caller asked for (as sent). */
  model: string;
  /** The bounded metric label for the model: a configured name or `other`. */
  modelLabel: string;
  upstream: string | null;
  stream: boolean;
  status: number;
  endReason: EndReason;
  startedAt: number;
  /** Upstream time to response headers, ms. */
  upstreamTtfbMs: number | null;
  /** Time from request arrival to the first content token written to the caller, ms. */
  ttftMs: number | null;
  durationMs: number;
  /** Time the proxy spent on its own (duration minus upstream wait), ms. */
  overheadMs: number | null;
  chunks: number;
  bytesOut: number;
  promptTokens: number | null;
  completionTokens: number | null;
  tokenSource: TokenSource | null;
  finishReason: string | null;
  attempts: AttemptRecord[];
  error: string | null;
  /** Gaps between successive content chunks, summarised (feeds the log line and the inter-token histogram). */
  interToken: GapSummary;
  /** Of `promptTokens`, those served from the upstream's prompt cache; present only when above 0. */
  cachedTokens?: number;
  /** Present only with content logging on (README "Content logging (off by default)"); never published on the live feed. */
  content?: { request?: unknown; response?: unknown };
}

/** The events of the bus, by name. */
export interface LifecycleEvents {
  'request.start': { id: string; method: string; route: string; key: string; model: string; stream: boolean; at: number };
  'request.first_token': { id: string; model: string; modelLabel: string; ttftMs: number; at: number };
  'request.end': RequestRecord;
  'request.rate_limited': { id: string; key: string; limit: string; model: string; retryAfterMs: number; at: number };
  'upstream.failed': { id: string; upstream: string; status: number | null; error: string; at: number };
  /**
   * `chunksWritten` reads the exchange's content-chunk counter: the live feed samples it once a
   * second to publish tokens per second while streams run (src/admin/feed.ts `stream.progress`),
   * so the relay does no per-token work for it. A function, so JSON never carries it.
   */
  'stream.open': { id: string; model: string; modelLabel: string; chunksWritten?: () => number };
  'stream.close': { id: string; model: string; modelLabel: string };
  /** A spend budget's spend (reservations included) and limit, after an admission or settle (src/limits/limiter.ts). */
  'budget.update': BudgetUpdate;
}

/** `budget.update`; the live feed coalesces these (test/integration/feed-budgets.test.ts). */
export interface BudgetUpdate {
  budget: string;
  spentUsd: number;
  limitUsd: number;
  at: number;
}

export type LifecycleEventName = keyof LifecycleEvents;

/**
 * `stream.progress`, an event of the live feed itself (src/admin/feed.ts), not of the bus: content
 * chunks (≈ tokens) written to callers in the last `intervalMs`.
 */
export interface StreamProgress {
  at: number;
  intervalMs: number;
  chunks: number;
  /** Streams open at `at`. */
  streams: number;
}
