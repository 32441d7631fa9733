/**
 * Which failures may go to another deployment (test/integration/failover.test.ts): only before the caller got any data,
 * and only for connect errors, timeouts, 408/409/429 and 5xx — never other 4xx, which would fail
 * the same way anywhere.
 */
import { ProxyError, UpstreamError, UpstreamStatusError, UpstreamTimeoutError } from '../errors.js';

/** May this error be retried on another (or the same) deployment? */
export function isRetryable(err: ProxyError): boolean {
  if (err instanceof UpstreamStatusError) {
    const s = err.status;
    return s === 408 || s === 409 || s === 429 || s >= 500;
  }
  return err instanceof UpstreamError || err instanceof UpstreamTimeoutError;
}

/** The upstream's requested wait, from `retry-after-ms` then `retry-after` (seconds or a date). */
export function retryAfterMs(err: ProxyError, nowMs: number): number | null {
  const ms = err.headers['retry-after-ms'];
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const ra = err.headers['retry-after'];
  if (ra === undefined) return null;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
