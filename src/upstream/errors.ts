/**
 * The errors the upstream transports (src/upstream/transport.ts, src/upstream/h1/) fail with,
 * one class per failure, matched with `instanceof` (as undici's lib/core/errors.js does), not by
 * comparing `code` strings. Each still carries a stable `code`: the values Node and undici use
 * for the same failure where there is one (`ECONNRESET`, `UND_ERR_CONNECT_TIMEOUT`,
 * `ERR_INVALID_CHAR`), so logs and callers that read `err.code` see what they saw before
 * (test/integration/h1-transport.test.ts asserts them, test/unit/upstream-errors.test.ts too).
 * Errors from Node or an injected fetch (an errno `ECONNREFUSED`, undici's own connect timeout)
 * are foreign: src/upstream/client.ts still reads their `code`.
 *
 * Pure: imports nothing from the app.
 */

/** Base of every failure the proxy's own upstream transports report. */
export class UpstreamTransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The connection was not established within the connect timeout (504 upstream_connect_timeout). */
export class ConnectTimeoutError extends UpstreamTransportError {
  /** undici's code for the same failure: what logs and the injected-fetch path already show. */
  static readonly CODE = 'UND_ERR_CONNECT_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(ConnectTimeoutError.CODE, `connect timed out after ${timeoutMs} ms`);
  }
}

/** No response head within `server.firstByteTimeoutMs` (504 upstream_timeout). */
export class FirstByteTimeoutError extends UpstreamTransportError {
  static readonly CODE = 'PROXY_FIRST_BYTE_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(FirstByteTimeoutError.CODE, `no response head within ${timeoutMs} ms`);
  }
}

/** The connection ended before the response did (what `node:http` reports as "socket hang up"). */
export class SocketHangUpError extends UpstreamTransportError {
  static readonly CODE = 'ECONNRESET';
  constructor() {
    super(SocketHangUpError.CODE, 'socket hang up');
  }
}

/** A request method or header the transport refuses to write (CR/LF injection), as `node:http` does. */
export class InvalidHeaderError extends UpstreamTransportError {
  static readonly CODE = 'ERR_INVALID_CHAR';
  constructor(what: string) {
    super(InvalidHeaderError.CODE, `Invalid character in ${what}`);
  }
}

/** The consumer let go of a response body before it ended: the connection cannot be reused. */
export class BodyDestroyedError extends UpstreamTransportError {
  static readonly CODE = 'PROXY_BODY_DESTROYED';
  constructor() {
    super(BodyDestroyedError.CODE, 'response body destroyed');
  }
}

/**
 * A broken internal invariant of the transport (a bug, never an upstream's doing). Thrown by
 * {@link invariant} where a `!` used to assume the state silently.
 */
export class TransportInvariantError extends Error {
  constructor(what: string) {
    super(`upstream transport invariant broken: ${what}`);
    this.name = 'TransportInvariantError';
  }
}

/**
 * Assert an internal invariant. Only at connection and response boundaries (once per request or
 * response, never per body chunk: the relay's per-read path stays as bench/README.md measured it).
 */
export function invariant(condition: unknown, what: string): asserts condition {
  if (!condition) throw new TransportInvariantError(what);
}
