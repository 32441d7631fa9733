/**
 * Gemini's errors in OpenAI's shape. Google APIs answer `{"error":{"code","message","status"}}`
 * where `code` is the HTTP status and `status` the canonical code name (Gemini API
 * "Troubleshooting", "Backend error codes"); a stream reports a late failure the same way, as an
 * event's data. Pure.
 */
import { UpstreamError, UpstreamStatusError, type ProxyError } from '../../errors.js';
import type { MappedError } from '../types.js';

/** The canonical codes Gemini documents, as the status and OpenAI type the caller gets. */
const BY_STATUS: Readonly<Record<string, { status: number; type: string }>> = {
  INVALID_ARGUMENT: { status: 400, type: 'invalid_request_error' },
  FAILED_PRECONDITION: { status: 400, type: 'invalid_request_error' },
  OUT_OF_RANGE: { status: 400, type: 'invalid_request_error' },
  NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  RESOURCE_EXHAUSTED: { status: 429, type: 'rate_limit_error' },
  INTERNAL: { status: 500, type: 'server_error' },
  UNAVAILABLE: { status: 503, type: 'server_error' },
  DEADLINE_EXCEEDED: { status: 504, type: 'server_error' },
};

/**
 * The upstream refusing the proxy's own credentials: the caller's key was fine, so this is never
 * the caller's 401/403. Gemini says so with UNAUTHENTICATED / PERMISSION_DENIED (HTTP 401 / 403:
 * the proxy's generic rule answers those), and also with a 400 INVALID_ARGUMENT whose ErrorInfo
 * reason is API_KEY_INVALID ("API key not valid"), which the generic rule would relay as the
 * caller's own 400.
 */
const CREDENTIALS = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED']);

const CREDENTIALS_MESSAGE =
  "The Gemini upstream refused the proxy's credentials; the proxy's operator must check this upstream's API key. Your API key was accepted.";

/** A Google error body's fields, or null when `body` is not one. */
interface GeminiError {
  code: number | null;
  message: string;
  status: string | null;
  keyInvalid: boolean;
  /** `google.rpc.RetryInfo.retryDelay` ("37s", "1.5s") in whole seconds, rounded up. */
  retryAfterSeconds: number | undefined;
}

/** The retry delay a Google error's details give (Gemini API "Rate limits": a 429 carries RetryInfo). */
function retryDelayOf(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const delay = d !== null && typeof d === 'object' ? (d as { retryDelay?: unknown }).retryDelay : undefined;
    const m = typeof delay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(delay) : null;
    if (m !== null) return Math.max(1, Math.ceil(Number(m[1])));
  }
  return undefined;
}

function readError(body: unknown): GeminiError | null {
  if (body === null || typeof body !== 'object') return null;
  const e = (body as { error?: unknown }).error;
  if (e === null || typeof e !== 'object') return null;
  const { code, message, status, details } = e as Record<string, unknown>;
  if (typeof message !== 'string' || (typeof status !== 'string' && typeof code !== 'number')) return null;
  const keyInvalid =
    Array.isArray(details) && details.some((d: unknown) => d !== null && typeof d === 'object' && (d as { reason?: unknown }).reason === 'API_KEY_INVALID');
  return { code: typeof code === 'number' ? code : null, message, status: typeof status === 'string' ? status : null, keyInvalid, retryAfterSeconds: retryDelayOf(details) };
}

/**
 * A non-2xx answer's parsed body as OpenAI's error: the status from Gemini's canonical code
 * (`code` is its lower-cased name); null for a body of another shape and for UNAUTHENTICATED /
 * PERMISSION_DENIED (the proxy's generic rule: 502 without the upstream's text). An invalid API
 * key is that same 502, made here because Gemini sends it as a 400.
 */
export function errorFrom(status: number, body: unknown): MappedError | null {
  const e = readError(body);
  if (e === null) return null;
  if (e.keyInvalid) return { status: 502, message: CREDENTIALS_MESSAGE, type: 'upstream_error', code: 'upstream_authentication_failed', param: null };
  if (e.status !== null && CREDENTIALS.has(e.status)) return null;
  const known = e.status !== null && Object.hasOwn(BY_STATUS, e.status) ? BY_STATUS[e.status] : undefined;
  const httpStatus = known?.status ?? validStatus(status) ?? validStatus(e.code ?? 0) ?? 502;
  if (known === undefined && (httpStatus === 401 || httpStatus === 403)) return null;
  return {
    status: httpStatus,
    message: e.message,
    type: known?.type ?? (httpStatus >= 500 ? 'server_error' : 'invalid_request_error'),
    code: e.status === null ? null : e.status.toLowerCase(),
    param: null,
    ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}),
  };
}

/**
 * The error a streamed `{"error":…}` event ends the stream with: the same mapping, the event's own
 * `code` standing for the HTTP status; a credentials refusal or an unreadable error is a 502.
 */
export function streamError(payload: unknown): ProxyError {
  const e = readError(payload);
  if (e === null) return new UpstreamError('The Gemini upstream reported an error in its stream.', { code: 'upstream_error' });
  const mapped = errorFrom(e.code ?? 502, payload);
  if (mapped === null) {
    return new UpstreamError(CREDENTIALS_MESSAGE, { code: 'upstream_authentication_failed' });
  }
  // An upstream status error, as the HTTP answer would have been: the attempt loop retries it by
  // the same rule (UNAVAILABLE before any content goes to the next deployment).
  return new UpstreamStatusError(mapped.status, { error: { message: mapped.message, type: mapped.type, param: mapped.param, code: mapped.code } });
}

function validStatus(n: number): number | undefined {
  return Number.isInteger(n) && n >= 400 && n <= 599 ? n : undefined;
}
