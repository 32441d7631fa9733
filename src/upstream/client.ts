/**
 * The upstream HTTP client. One transport per upstream: the network (the proxy's own
 * HTTP/1.1 client, src/upstream/h1/, or `node:http` with a pooled keep-alive agent,
 * src/upstream/transport.ts, which nock scripts in tests) or the in-process simulator. Each
 * transport times the first byte itself and ends the request on the caller's abort. Timeouts and
 * failures become {@link ProxyError}s here, so the relay only sees typed errors.
 */
import type { UpstreamConfig } from '../config/schema.js';
import { createHttpTransport, fromFetch, type FetchLike, type Transport, type TransportRequest, type UpstreamResponse } from './transport.js';
import { createH1Transport } from './h1/transport.js';
import type { CancelSignal } from '../util/cancel.js';
import { UpstreamError, UpstreamTimeoutError, ProxyError } from '../errors.js';
import { ConnectTimeoutError, FirstByteTimeoutError } from './errors.js';
import { baseUrlOf } from '../providers/registry.js';

export type { FetchLike } from './transport.js';

/** One call to an upstream. */
export interface UpstreamCall {
  upstreamName: string;
  upstream: UpstreamConfig;
  /** Path below the upstream's base URL, with query, e.g. `/chat/completions`. */
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** Aborts the call (client disconnect, idle timeout, shutdown). */
  signal: CancelSignal;
  /** See {@link TransportRequest.onResponse}. */
  onResponse?(res: UpstreamResponse): void;
}

/** Sends calls and maps transport failures to 502/504. */
export interface UpstreamClient {
  /** Resolves with the response once its headers arrived; rejects with a ProxyError. */
  send(call: UpstreamCall, firstByteTimeoutMs: number): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** What {@link createUpstreamClient} needs. */
export interface UpstreamClientDeps {
  /** A fetch to use instead of `node:http` (tests that script failures at that level). */
  fetch?: FetchLike;
  /** Builds the simulator's fetch for a `type: sim` upstream (kept out of this module's imports). */
  simFetch?: (upstream: UpstreamConfig) => FetchLike;
  connectTimeoutMs: number;
  /** `h1`: the proxy's own HTTP/1.1 client (default); `node`: `node:http` (see the config schema). */
  kind?: 'h1' | 'node';
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Translate a transport rejection into the proxy's error for it. Our own transports' failures are
 * matched by class (src/upstream/errors.ts); `timedOut` is kept for callers that time the first
 * byte themselves. Errors from Node (errno codes) and from an injected fetch (undici's
 * `UND_ERR_CONNECT_TIMEOUT` in its `cause`, test/integration/failures.test.ts) are foreign and
 * read by `code`.
 */
export function mapFetchError(err: unknown, upstreamName: string, timedOut: 'first_byte' | null = null): ProxyError {
  if (err instanceof ProxyError) return err;
  if (timedOut === 'first_byte' || err instanceof FirstByteTimeoutError) {
    return new UpstreamTimeoutError(`Upstream "${upstreamName}" sent no response headers in time.`, { code: 'upstream_timeout', cause: err });
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const code = cause?.code ?? (err as { code?: string } | null)?.code;
  if (err instanceof ConnectTimeoutError || code === ConnectTimeoutError.CODE) {
    return new UpstreamTimeoutError(`Timed out connecting to upstream "${upstreamName}".`, { code: 'upstream_connect_timeout', cause: err });
  }
  const detail = code && NETWORK_CODES.has(code) ? code : (cause?.message ?? (err as Error)?.message ?? 'unknown error');
  return new UpstreamError(`Upstream "${upstreamName}" is unreachable (${detail}).`, { code: 'upstream_unreachable', cause: err });
}

/** Build the client: HTTP/1.1 (ours or `node:http`) for network upstreams, or an injected fetch; the simulator in-process. */
export function createUpstreamClient(deps: UpstreamClientDeps): UpstreamClient {
  const http = deps.kind === 'node' ? createHttpTransport({ connectTimeoutMs: deps.connectTimeoutMs }) : createH1Transport({ connectTimeoutMs: deps.connectTimeoutMs });
  const network: Transport = deps.fetch ? fromFetch(deps.fetch) : http.send;
  const simCache = new Map<UpstreamConfig, Transport>();

  const transportFor = (u: UpstreamConfig): Transport => {
    if (u.type !== 'sim') return network;
    if (!deps.simFetch) throw new UpstreamError('The simulated upstream is not available in this build.');
    let t = simCache.get(u);
    if (!t) simCache.set(u, (t = fromFetch(deps.simFetch(u))));
    return t;
  };

  return {
    async send(call, firstByteTimeoutMs) {
      const send = transportFor(call.upstream);
      const base = baseUrlOf(call.upstream);
      // The transport ends the request on the caller's abort and on the first-byte timeout: no
      // controller of our own (heap per open stream, bench/heap.ts).
      try {
        return await send(base + call.path, { method: call.method, headers: call.headers, body: call.body, signal: call.signal, firstByteTimeoutMs, onResponse: call.onResponse });
      } catch (err) {
        if (call.signal.aborted) throw call.signal.reason ?? err;
        throw mapFetchError(err, call.upstreamName);
      }
    },
    async close() {
      http.close();
    },
  };
}
