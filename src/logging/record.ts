/**
 * One log record per request, at its end (README "One record per request"), from the bus's `request.end`:
 * {@link logFields} is the record as logged (the per-token gaps summarised, not listed),
 * {@link feedFields} the same minus content, for the live feed. What goes into `content` is
 * built in `content.ts`.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../events/bus.js';
import type { EndReason, RequestRecord } from '../events/types.js';
import { lineWriter } from './logger.js';
import { clippedFields, gapSummary, recordLine, tokensPerSecond } from './record-line.js';

export { tokensPerSecond } from './record-line.js';

/**
 * The record as logged: the per-token gaps are summarised, not listed, and the model and error
 * texts clipped (a caller chose them; test/security/model-names.test.ts).
 */
export function logFields(r: RequestRecord): Record<string, unknown> {
  const { interToken, ...rest } = r;
  const out: Record<string, unknown> = clippedFields(rest);
  const gaps = gapSummary(interToken);
  out.interTokenMsMean = gaps.mean;
  out.interTokenMsMax = gaps.max;
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

/**
 * Subscribe the request log. Returns an unsubscribe function. On a logger of ours the line is
 * written by {@link recordLine} (the same bytes, test/unit/record-line.test.ts); a record with content, or any other
 * logger, goes through pino.
 */
export function attachRequestLog(bus: EventBus, logger: Logger): () => void {
  const write = lineWriter(logger);
  return bus.on('request.end', (r) => {
    const level = levelFor(r.endReason, r.status);
    if (write === null || r.content !== undefined) {
      logger[level](logFields(r), 'request');
      return;
    }
    const value = logger.levels.values[level]!;
    if (value >= logger.levelVal) write(recordLine(r, value, new Date().toISOString()));
  });
}
