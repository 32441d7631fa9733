/**
 * One log record per request, at its end (issue 5), from the bus's `request.end`:
 * {@link logFields} is the record as logged (the per-token gaps summarised, not listed),
 * {@link feedFields} the same minus content, for the live feed. What goes into `content` is
 * built in `content.ts`.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../events/bus.js';
import type { EndReason, RequestRecord } from '../events/types.js';

/** The record as logged: the per-token gaps are summarised, not listed. */
export function logFields(r: RequestRecord): Record<string, unknown> {
  const { interTokenMs, ...rest } = r;
  const out: Record<string, unknown> = rest;
  let sum = 0;
  let max = 0;
  for (const gap of interTokenMs) {
    sum += gap;
    if (gap > max) max = gap;
  }
  out.interTokenMsMean = interTokenMs.length > 0 ? round(sum / interTokenMs.length) : null;
  out.interTokenMsMax = interTokenMs.length > 0 ? round(max) : null;
  out.tokensPerSecond = tokensPerSecond(r);
  if (r.content !== undefined) {
    // Last, so the scalar fields come first when a person reads the line.
    delete out.content;
    out.content = r.content;
  }
  return out;
}

/** The record as the live feed publishes it: {@link logFields} without content, ever. */
export function feedFields(r: RequestRecord): Record<string, unknown> {
  const out = logFields(r);
  delete out.content;
  return out;
}

/**
 * Completion tokens per second of generation (first token to end); null when there were no
 * tokens or no first token to measure from.
 */
export function tokensPerSecond(r: RequestRecord): number | null {
  if (!r.completionTokens || r.ttftMs === null) return null;
  const generationMs = r.durationMs - r.ttftMs;
  if (generationMs <= 0) return null;
  return round((r.completionTokens * 1000) / generationMs);
}

/** Log level of a request record: upstream and proxy failures warn, callers' own outcomes are info. */
export function levelFor(reason: EndReason, status: number): 'info' | 'warn' {
  switch (reason) {
    case 'upstream_error':
    case 'upstream_truncated':
    case 'idle_timeout':
    case 'shutdown':
      return 'warn';
    case 'error':
      return status >= 500 ? 'warn' : 'info';
    default:
      return 'info';
  }
}

/** Subscribe the request log. Returns an unsubscribe function. */
export function attachRequestLog(bus: EventBus, logger: Logger): () => void {
  return bus.on('request.end', (r) => {
    logger[levelFor(r.endReason, r.status)](logFields(r), 'request');
  });
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
