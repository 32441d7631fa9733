/**
 * One error hierarchy for the whole proxy, rendered in one place ({@link toOpenAIError}) into
 * OpenAI's shape `{"error":{"message","type","param","code"}}` (README "Errors").
 * Pure: imports nothing from the app.
 */

/** The JSON body OpenAI returns for an error, and that the OpenAI SDKs parse. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Options common to every {@link ProxyError}. */
export interface ProxyErrorOptions {
  param?: string | null;
  code?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** Base class: an HTTP status, an OpenAI error `type` and `code`, optional response headers. */
export class ProxyError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, message: string, opts: ProxyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.code = opts.code ?? null;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  /** The body as OpenAI would send it. */
  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400: the request itself is wrong (bad JSON, missing field, wrong content type). */
export class InvalidRequestError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(400, 'invalid_request_error', message, opts);
  }
}

/** 401: missing or wrong client key. */
export class AuthenticationError extends ProxyError {
  constructor(message = 'Incorrect API key provided.', opts: ProxyErrorOptions = {}) {
    super(401, 'invalid_request_error', message, { code: 'invalid_api_key', ...opts });
  }
}

/** 403: the key is valid but may not use this model (or endpoint). */
export class PermissionDeniedError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(403, 'permission_error', message, { code: 'model_not_allowed', ...opts });
  }
}

/** 404: no route for this model, or an unknown path. */
export class NotFoundError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(404, 'invalid_request_error', message, { code: 'model_not_found', ...opts });
  }
}

/** 405 / 415 and friends share the invalid_request_error type with their own status. */
export class HttpStatusError extends ProxyError {
  constructor(status: number, message: string, opts: ProxyErrorOptions = {}) {
    super(status, 'invalid_request_error', message, opts);
  }
}

/** 413: the body is larger than `maxBodyBytes`. */
export class PayloadTooLargeError extends ProxyError {
  constructor(limitBytes: number) {
    super(413, 'invalid_request_error', `Request body exceeds the limit of ${limitBytes} bytes.`, {
      code: 'request_too_large',
    });
  }
}

/** 429 from the proxy's own limiter; `type` is the exhausted limit (`requests`, `tokens`, `concurrency`). */
export class RateLimitError extends ProxyError {
  readonly retryAfterMs: number;
  constructor(limit: string, message: string, retryAfterMs: number, headers: Record<string, string> = {}) {
    const retryAfterS = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(429, limit, message, {
      code: 'rate_limit_exceeded',
      headers: { ...headers, 'retry-after': String(retryAfterS), 'retry-after-ms': String(Math.ceil(retryAfterMs)) },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * 429 `insufficient_quota`: a spend budget (README "Budgets") cannot pay for the request. OpenAI
 * answers an exhausted account the same way, and `x-should-retry: false` keeps the OpenAI SDKs
 * from retrying: waiting seconds does not help, only the budget's next period does.
 */
export class InsufficientQuotaError extends ProxyError {
  constructor(message: string, headers: Record<string, string> = {}) {
    super(429, 'insufficient_quota', message, { code: 'insufficient_quota', headers: { ...headers, 'x-should-retry': 'false' } });
  }
}

/** 429 for a client address past its limit of failed authentications (src/http/auth-throttle.ts). */
export class AuthThrottledError extends ProxyError {
  constructor(message: string, retryAfterMs: number) {
    super(429, 'invalid_request_error', message, {
      code: 'too_many_auth_failures',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    });
  }
}

/** 502: the upstream could not be reached, or answered something broken. */
export class UpstreamError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(502, 'upstream_error', message, { code: 'upstream_unavailable', ...opts });
  }
}

/** 504: connect or time-to-first-byte timeout, or the stream went idle too long. */
export class UpstreamTimeoutError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(504, 'upstream_error', message, { code: 'upstream_timeout', ...opts });
  }
}

/** 503: the proxy is draining (shutdown) or a required store is down with fail-closed. */
export class ServiceUnavailableError extends ProxyError {
  constructor(message: string, opts: ProxyErrorOptions = {}) {
    super(503, 'server_error', message, { code: 'service_unavailable', ...opts });
  }
}

/** What the one renderer produces: a status, headers and the OpenAI-shaped body. */
export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: OpenAIErrorBody;
}

/**
 * Map anything thrown into OpenAI's error shape. Unknown errors become a 500 whose message does
 * not leak internals (the log has the detail).
 */
export function toOpenAIError(err: unknown): RenderedError {
  if (err instanceof ProxyError) return { status: err.status, headers: err.headers, body: err.toBody() };
  // Koa / http-errors style errors (e.g. from body parsing) carry an explicit status.
  const e = err as { status?: unknown; expose?: unknown; message?: unknown } | null;
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
    return {
      status: e.status,
      headers: {},
      body: { error: { message: String(e.message), type: 'invalid_request_error', param: null, code: null } },
    };
  }
  return {
    status: 500,
    headers: {},
    body: { error: { message: 'Internal proxy error.', type: 'server_error', param: null, code: 'internal_error' } },
  };
}

/**
 * Is `value` already an OpenAI-shaped error body (`{"error":{"message":...}}`)? Such bodies from
 * an upstream keep their four fields, scrubbed of secrets (src/relay/upstream-response.ts).
 */
export function isOpenAIErrorBody(value: unknown): value is OpenAIErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const inner = (value as { error?: unknown }).error;
  return typeof inner === 'object' && inner !== null && typeof (inner as { message?: unknown }).message === 'string';
}

/**
 * A non-2xx answer from the upstream, passed to the caller with the same status. An OpenAI-shaped
 * body keeps its four fields (scrubbed); anything else is wrapped into that shape
 * (src/relay/upstream-response.ts, test/security/forwarding.test.ts).
 */
export class UpstreamStatusError extends ProxyError {
  private readonly upstreamBody: OpenAIErrorBody;
  constructor(status: number, body: OpenAIErrorBody, headers: Record<string, string> = {}) {
    super(status, body.error.type ?? 'upstream_error', body.error.message, {
      code: body.error.code ?? null,
      param: body.error.param ?? null,
      headers,
    });
    this.upstreamBody = body;
  }
  override toBody(): OpenAIErrorBody {
    return this.upstreamBody;
  }
}
