/**
 * How a stream ends when the relay stopped it itself (cancellation, timeouts and
 * shutdown): the end reason for the record and the error the caller's last frame carries.
 */
import { ProxyError, UpstreamTimeoutError, ServiceUnavailableError } from '../errors.js';
import type { PumpResult, RelayOptions, StopReason } from './relay-types.js';

/** The result of a stream stopped for `reason`. */
export function stopResult(reason: StopReason, upstreamName: string, opts: Pick<RelayOptions, 'idleTimeoutMs' | 'maxStreamDurationMs'>): PumpResult {
  switch (reason) {
    case 'client':
      return { kind: 'ended', reason: 'client_aborted', error: null };
    case 'client_stalled':
      return {
        kind: 'ended',
        reason: 'client_aborted',
        error: new ProxyError(408, 'timeout', `The caller stopped reading for more than ${opts.idleTimeoutMs} ms.`, { code: 'client_stalled' }),
      };
    case 'idle':
      return {
        kind: 'ended',
        reason: 'idle_timeout',
        error: new UpstreamTimeoutError(`Upstream "${upstreamName}" was silent for more than ${opts.idleTimeoutMs} ms.`, { code: 'upstream_idle_timeout' }),
      };
    case 'max_duration':
      return {
        kind: 'ended',
        reason: 'error',
        error: new UpstreamTimeoutError(`The stream exceeded the maximum duration of ${opts.maxStreamDurationMs} ms.`, { code: 'stream_duration_exceeded' }),
      };
    default:
      return { kind: 'ended', reason: 'shutdown', error: new ServiceUnavailableError('The proxy is shutting down.', { code: 'server_shutdown' }) };
  }
}
