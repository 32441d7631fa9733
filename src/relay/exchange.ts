/**
 * The per-request state every relay path fills in, and the one place a request ends: it builds
 * the {@link RequestRecord}, runs the end hooks (rate-limit settlement) and publishes
 * `request.end` exactly once (README "One record per request").
 */
import type { Clock } from '../clock.js';
import type { EventBus } from '../events/bus.js';
import type { AttemptRecord, EndReason, RequestRecord, TokenSource } from '../events/types.js';
import { GapStats, NO_GAPS } from '../events/gaps.js';

/** Token totals known at the end of a request. */
export interface UsageTotals {
  promptTokens: number;
  completionTokens: number;
  /** Of `promptTokens`, those served from the upstream's prompt cache (priced at `cachedPrompt`); 0 when unknown. */
  cachedPromptTokens: number;
  source: TokenSource;
}

/** Mutable state of one request, owned by its handler. */
export class Exchange {
  readonly startedAtWall: number;
  readonly startedAt: number;
  key = 'anonymous';
  model = '';
  modelLabel = 'other';
  upstream: string | null = null;
  stream = false;
  status = 0;
  chunks = 0;
  bytesOut = 0;
  finishReason: string | null = null;
  error: string | null = null;
  attempts: AttemptRecord[] = [];
  /** Made at the second token: most requests that have gaps are streams. */
  private gaps: GapStats | null = null;
  /** Monotonic times; null until they happen. */
  upstreamSentAt: number | null = null;
  upstreamHeadersAt: number | null = null;
  upstreamEndAt: number | null = null;
  firstTokenAt: number | null = null;
  lastTokenAt: number | null = null;
  /** Set by the usage tracker before finish(). */
  usage: UsageTotals | null = null;
  content: RequestRecord['content'];
  private readonly endHooks: Array<(record: RequestRecord) => void> = [];
  private finished = false;
  private streamOpen = false;

  constructor(
    readonly id: string,
    readonly method: string,
    /** The route label (a template, bounded: metrics use it). */
    public route: string,
    private readonly clock: Clock,
    private readonly bus: EventBus,
  ) {
    this.startedAtWall = clock.now();
    this.startedAt = clock.monotonic();
  }

  /** Milliseconds since the request arrived. */
  elapsedMs(): number {
    return this.clock.monotonic() - this.startedAt;
  }

  /** Run `fn` when the request ends (whatever the reason), before `request.end` is published. */
  onEnd(fn: (record: RequestRecord) => void): void {
    this.endHooks.push(fn);
  }

  /** Record one content token chunk written to the caller (TTFT and inter-token gaps). */
  markToken(now: number): void {
    if (this.firstTokenAt === null) {
      this.firstTokenAt = now;
      if (this.bus.has('request.first_token')) {
        this.bus.emit('request.first_token', {
          id: this.id,
          model: this.model,
          modelLabel: this.modelLabel,
          ttftMs: now - this.startedAt,
          at: this.clock.now(),
        });
      }
    } else {
      (this.gaps ??= new GapStats()).add(now - this.lastTokenAt!);
    }
    this.lastTokenAt = now;
  }

  /** The stream's headers went out: count it as an active stream until finish(). */
  openStream(): void {
    if (this.streamOpen) return;
    this.streamOpen = true;
    this.bus.emit('stream.open', { id: this.id, model: this.model, modelLabel: this.modelLabel, chunksWritten: () => this.chunks });
  }

  /** Add one upstream attempt to the record. */
  addAttempt(upstream: string, status: number | null, error: string | null, startedAt: number): void {
    this.attempts.push({ upstream, status, error, durationMs: round(this.clock.monotonic() - startedAt) });
  }

  /** Time spent waiting on the upstream so far, ms. */
  upstreamWaitMs(now: number): number {
    if (this.upstreamSentAt === null) return 0;
    return (this.upstreamEndAt ?? now) - this.upstreamSentAt;
  }

  /** End the request once: build the record, run end hooks, publish `request.end`. */
  finish(endReason: EndReason, status = this.status): RequestRecord | null {
    if (this.finished) return null;
    this.finished = true;
    this.status = status;
    const now = this.clock.monotonic();
    const durationMs = now - this.startedAt;
    const record: RequestRecord = {
      id: this.id,
      method: this.method,
      route: this.route,
      key: this.key,
      model: this.model,
      modelLabel: this.modelLabel,
      upstream: this.upstream,
      stream: this.stream,
      status,
      endReason,
      startedAt: this.startedAtWall,
      upstreamTtfbMs: this.upstreamHeadersAt !== null && this.upstreamSentAt !== null ? round(this.upstreamHeadersAt - this.upstreamSentAt) : null,
      ttftMs: this.firstTokenAt !== null ? round(this.firstTokenAt - this.startedAt) : null,
      durationMs: round(durationMs),
      overheadMs: this.upstreamSentAt !== null ? round(Math.max(0, durationMs - this.upstreamWaitMs(now))) : null,
      chunks: this.chunks,
      bytesOut: this.bytesOut,
      promptTokens: this.usage?.promptTokens ?? null,
      completionTokens: this.usage?.completionTokens ?? null,
      tokenSource: this.usage?.source ?? null,
      finishReason: this.finishReason,
      attempts: this.attempts,
      error: this.error,
      interToken: this.gaps ?? NO_GAPS,
    };
    // Only when there are any, after the fixed fields: the record (and its log line,
    // src/logging/record-line.ts) stays as it was for the many upstreams that report none.
    if (this.usage !== null && this.usage.cachedPromptTokens > 0) record.cachedTokens = this.usage.cachedPromptTokens;
    if (this.content !== undefined) record.content = this.content;
    for (const hook of this.endHooks) {
      try {
        hook(record);
      } catch {
        /* an end hook must never stop the record from being published */
      }
    }
    if (this.streamOpen) this.bus.emit('stream.close', { id: this.id, model: this.model, modelLabel: this.modelLabel });
    this.bus.emit('request.end', record);
    return record;
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
