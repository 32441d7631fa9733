/**
 * Anthropic's errors in OpenAI's shape, for a non-2xx answer and for an `error` event inside a
 * stream. Anthropic docs "Errors" > "HTTP errors": the body is
 * `{"type":"error","error":{"type":…,"message":…}}`, and the error type says what happened (the
 * same types arrive as stream `error` events, e.g. `overloaded_error` after the stream began).
 * The status follows the type, so a stream error fails the same way the HTTP answer would have:
 *
 * | Anthropic type | HTTP | caller gets | OpenAI type |
 * |---|---|---|---|
 * | invalid_request_error | 400 | 400 | invalid_request_error |
 * | authentication_error, permission_error | 401, 403 | the generic rule (502: the proxy's own key) | |
 * | billing_error | 402 | 502 (the proxy's account, not the caller's request) | upstream_error |
 * | not_found_error | 404 | 404 | invalid_request_error |
 * | request_too_large | 413 | 413 | invalid_request_error |
 * | rate_limit_error | 429 | 429 | rate_limit_error |
 * | api_error | 500 | 500 | server_error |
 * | timeout_error | 504 | 504 | server_error |
 * | overloaded_error | 529 | 503 (a status OpenAI's clients retry) | server_error |
 *
 * `code` is Anthropic's error type, so the caller can still tell an overload from a failure. A
 * type not in the table keeps the HTTP status (by class: 5xx `server_error`, else
 * `invalid_request_error`). A body of another shape is left to the generic rule (null). Pure.
 */
import { UpstreamError, UpstreamStatusError, type ProxyError } from '../../errors.js';
import type { MappedError } from '../types.js';

interface Known {
  status: number;
  type: string;
}

const KNOWN: Readonly<Record<string, Known>> = {
  invalid_request_error: { status: 400, type: 'invalid_request_error' },
  billing_error: { status: 502, type: 'upstream_error' },
  not_found_error: { status: 404, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  rate_limit_error: { status: 429, type: 'rate_limit_error' },
  api_error: { status: 500, type: 'server_error' },
  timeout_error: { status: 504, type: 'server_error' },
  overloaded_error: { status: 503, type: 'server_error' },
};

/** Types the proxy's generic rule handles: the upstream refusing the proxy's own credentials. */
const CREDENTIALS = new Set(['authentication_error', 'permission_error']);

/** The `error` object of an Anthropic error body, or null when `body` is not one. */
function anthropicError(body: unknown): { type: string; message: string } | null {
  if (typeof body !== 'object' || body === null) return null;
  const e = (body as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return null;
  const { type, message } = e as { type?: unknown; message?: unknown };
  if (typeof type !== 'string' || type === '') return null;
  return { type, message: typeof message === 'string' && message !== '' ? message : `Anthropic answered ${type}.` };
}

/** A non-2xx answer's parsed body as OpenAI's error; null for the generic rule. */
export function errorFrom(status: number, body: unknown): MappedError | null {
  const e = anthropicError(body);
  if (e === null || CREDENTIALS.has(e.type)) return null;
  const known = Object.hasOwn(KNOWN, e.type) ? KNOWN[e.type]! : null;
  return {
    status: known?.status ?? status,
    // Anthropic speaks to its account holder ("Your credit balance…"): here that is the operator.
    message: e.type === 'billing_error' ? `The upstream's Anthropic account cannot be billed: ${e.message}` : e.message,
    type: known?.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
    code: e.type,
    param: null,
  };
}

/**
 * An `error` event's data (JSON text) as the error the stream fails with. Unreadable data, or
 * a credentials error (which should not come mid-stream), is an upstream failure (502).
 */
export function streamError(data: string): ProxyError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return new UpstreamError('The Anthropic upstream reported an error in its stream.', { code: 'upstream_stream_error' });
  }
  const e = anthropicError(parsed);
  if (e === null) return new UpstreamError('The Anthropic upstream reported an error in its stream.', { code: 'upstream_stream_error' });
  const mapped = CREDENTIALS.has(e.type) ? null : errorFrom(500, parsed);
  if (mapped === null) return new UpstreamError(`The Anthropic upstream reported ${e.type} in its stream.`, { code: e.type });
  // An upstream status error, as the HTTP answer would have been: the attempt loop retries it by
  // the same rule (an `overloaded_error` before any content goes to the next deployment).
  return new UpstreamStatusError(mapped.status, { error: { message: mapped.message, type: mapped.type, param: mapped.param, code: mapped.code } });
}
