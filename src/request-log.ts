/**
 * One log record per request, at its end (issue 5), from the bus's `request.end`.
 */
import type { Logger } from 'pino';
import type { EventBus } from './events/bus.js';
import type { RequestRecord } from './events/types.js';

/** The record as logged: the per-token gaps are summarised, not listed. */
export function logFields(r: RequestRecord): Record<string, unknown> {
  const { interTokenMs, ...rest } = r;
  void interTokenMs;
  return rest;
}

/** Subscribe the request log. Returns an unsubscribe function. */
export function attachRequestLog(bus: EventBus, logger: Logger): () => void {
  return bus.on('request.end', (r) => {
    const level = r.status >= 500 || r.endReason === 'upstream_error' || r.endReason === 'upstream_truncated' ? 'warn' : 'info';
    logger[level](logFields(r), 'request');
  });
}
