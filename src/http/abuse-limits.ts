/**
 * Limits on abuse at the HTTP server (test/integration/abuse.test.ts). Each refusal is counted in
 * `llm_proxy_refused_total{reason}` and answered with an OpenAI-shaped error where HTTP allows:
 *
 * | limit | config (server.*) | caller sees | reason |
 * |---|---|---|---|
 * | open connections | maxConnections | 503 `too_many_connections` on its request, then close | connections |
 * | … far beyond it | 2 × maxConnections | connection closed unanswered (Node's own cap) | connections |
 * | request head size | maxHeaderBytes | 431 `request_header_fields_too_large`, close | header_size |
 * | head not complete in time (slowloris; also a silent new connection) | headersTimeoutMs | 408 `headers_timeout`, close | headers_timeout |
 * | body not complete in time (slow body) | requestTimeoutMs | 408 `request_timeout`, close | request_timeout |
 * | body size | maxBodyBytes | 413 (src/http/body.ts) | body_size |
 * | stream duration | maxStreamDurationMs | error frame `stream_duration_exceeded` (src/relay/caller.ts) | stream_duration |
 *
 * A connection over `maxConnections` is still read so that its request gets a real answer (a
 * bare reset tells a client nothing); it is bounded like any other by the head timeout, and
 * Node drops connections outright past twice the limit so file descriptors stay bounded.
 * The timeouts are Node's (`headersTimeout`, `requestTimeout`, checked every
 * `timeoutCheckIntervalMs`); they stop applying once the request is read, so a long streaming
 * response is never cut by them.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import { HttpStatusError, ProxyError, ServiceUnavailableError, toOpenAIError } from '../errors.js';
import type { ProxyMetrics, RefusalReason } from '../metrics.js';
import { writeJsonError } from '../util/write-error.js';

type ServerConfig = Config['server'];

/** Options for http.createServer that enforce the limits above. */
export function serverOptions(s: ServerConfig): http.ServerOptions {
  return {
    headersTimeout: s.requestTimeoutMs > 0 && s.headersTimeoutMs > s.requestTimeoutMs ? s.requestTimeoutMs : s.headersTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    connectionsCheckingInterval: s.timeoutCheckIntervalMs,
    maxHeaderSize: s.maxHeaderBytes,
  };
}

/** A complete HTTP/1.1 response for a socket with no usable ServerResponse, then close. */
function rawResponse(err: ProxyError): string {
  const rendered = toOpenAIError(err);
  const body = JSON.stringify(rendered.body);
  const reason = err.status === 431 ? 'Request Header Fields Too Large' : err.status === 408 ? 'Request Timeout' : 'Bad Request';
  return (
    `HTTP/1.1 ${err.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** What a parser or timeout error on a connection means. */
function classify(err: NodeJS.ErrnoException, socket: Duplex): { reason: RefusalReason | null; error: ProxyError | null } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        reason: 'header_size',
        error: new HttpStatusError(431, 'The request headers are too large.', { code: 'request_header_fields_too_large' }),
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT': {
      // Node reports both timeouts the same way; a request whose head was parsed has a response.
      const bodyPhase = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null;
      return bodyPhase
        ? { reason: 'request_timeout', error: new HttpStatusError(408, 'The request body was not received in time.', { code: 'request_timeout' }) }
        : { reason: 'headers_timeout', error: new HttpStatusError(408, 'The request headers were not received in time.', { code: 'headers_timeout' }) };
    }
    default:
      if (err.code?.startsWith('HPE_')) return { reason: null, error: new HttpStatusError(400, 'Malformed HTTP request.', { code: 'bad_request' }) };
      return { reason: null, error: null }; // ECONNRESET and friends: nobody to answer
  }
}

/**
 * Install the limits on `server`; returns the request listener to use in place of `handler`
 * (it answers requests on connections over the limit).
 */
export function applyAbuseLimits(
  server: http.Server,
  s: ServerConfig,
  metrics: ProxyMetrics,
  handler: http.RequestListener,
): http.RequestListener {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const { reason, error } = classify(err, socket);
    if (reason) metrics.refused(reason);
    const res = (socket as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
    // As Node's default handler: answer only if nothing of a response went out yet.
    if (error && socket.writable && (!res || !res.headersSent)) socket.write(rawResponse(error));
    // A handler still reading the body fails with this error rather than a bare "aborted", so its
    // record and metrics say 408, not 500.
    if (res && error && !res.req.destroyed) res.req.destroy(error);
    socket.destroy();
  });

  if (s.maxConnections <= 0) return handler;
  const over = new WeakSet<Duplex>();
  let open = 0;
  server.maxConnections = s.maxConnections * 2;
  server.on('drop', () => metrics.refused('connections'));
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open > s.maxConnections) {
      over.add(socket);
      metrics.refused('connections');
    }
  });
  return (req, res) => {
    if (!over.has(req.socket)) return handler(req, res);
    res.shouldKeepAlive = false;
    writeJsonError(
      res,
      new ServiceUnavailableError(`Too many open connections (limit ${s.maxConnections}); retry shortly.`, {
        code: 'too_many_connections',
        headers: { 'retry-after': '1', connection: 'close' },
      }),
    );
  };
}
