/**
 * The upstream HTTP client (issue 2). One fetch-shaped function per upstream: the network
 * (Node's fetch over a pooled keep-alive undici Agent — fetch so that nock can script it in
 * tests) or the in-process simulator. Timeouts and failures become {@link ProxyError}s here,
 * so the relay only sees typed errors.
 */
import { Agent } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { UpstreamError, UpstreamTimeoutError, ProxyError } from '../errors.js';

/** The fetch signature the proxy needs (global fetch, a nock-patched fetch, or the simulator). */
export type FetchLike = (input: string, init: RequestInit & { dispatcher?: unknown }) => Promise<Response>;

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
  signal: AbortSignal;
}

/** Sends calls and maps transport failures to 502/504. */
export interface UpstreamClient {
  /** Resolves with the response once its headers arrived; rejects with a ProxyError. */
  send(call: UpstreamCall, firstByteTimeoutMs: number): Promise<Response>;
  close(): Promise<void>;
}

/** What {@link createUpstreamClient} needs. */
export interface UpstreamClientDeps {
  fetch: FetchLike;
  /** Builds the simulator's fetch for a `type: sim` upstream (kept out of this module's imports). */
  simFetch?: (upstream: UpstreamConfig) => FetchLike;
  connectTimeoutMs: number;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET']);

/** Translate a fetch rejection into the proxy's error for it. */
export function mapFetchError(err: unknown, upstreamName: string, timedOut: 'first_byte' | null): ProxyError {
  if (err instanceof ProxyError) return err;
  if (timedOut === 'first_byte') {
    return new UpstreamTimeoutError(`Upstream "${upstreamName}" sent no response headers in time.`, { code: 'upstream_timeout', cause: err });
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const code = cause?.code ?? (err as { code?: string } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamTimeoutError(`Timed out connecting to upstream "${upstreamName}".`, { code: 'upstream_connect_timeout', cause: err });
  }
  const detail = code && NETWORK_CODES.has(code) ? code : (cause?.message ?? (err as Error)?.message ?? 'unknown error');
  return new UpstreamError(`Upstream "${upstreamName}" is unreachable (${detail}).`, { code: 'upstream_unreachable', cause: err });
}

/** Build the client. One keep-alive pool for all network upstreams (connections are per origin). */
export function createUpstreamClient(deps: UpstreamClientDeps): UpstreamClient {
  // Pooled keep-alive connections, no per-request DNS/TLS (issue 6); bodyTimeout is ours (idle).
  const agent = new Agent({
    connect: { timeout: deps.connectTimeoutMs },
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connections: null,
  });
  const simCache = new Map<UpstreamConfig, FetchLike>();

  const fetchFor = (u: UpstreamConfig): { fn: FetchLike; dispatcher?: unknown } => {
    if (u.type === 'sim') {
      if (!deps.simFetch) throw new UpstreamError('The simulated upstream is not available in this build.');
      let fn = simCache.get(u);
      if (!fn) simCache.set(u, (fn = deps.simFetch(u)));
      return { fn };
    }
    return { fn: deps.fetch, dispatcher: agent };
  };

  return {
    async send(call, firstByteTimeoutMs) {
      const { fn, dispatcher } = fetchFor(call.upstream);
      const base = call.upstream.type === 'sim' ? 'http://sim.local/v1' : call.upstream.baseUrl.replace(/\/+$/, '');
      const ctrl = new AbortController();
      const onAbort = (): void => ctrl.abort(call.signal.reason);
      if (call.signal.aborted) onAbort();
      else call.signal.addEventListener('abort', onAbort, { once: true });
      let timedOut: 'first_byte' | null = null;
      const timer =
        firstByteTimeoutMs > 0
          ? setTimeout(() => {
              timedOut = 'first_byte';
              ctrl.abort(new Error('first byte timeout'));
            }, firstByteTimeoutMs)
          : null;
      try {
        const init: RequestInit & { dispatcher?: unknown } = {
          method: call.method,
          headers: call.headers,
          body: call.body as BodyInit | undefined,
          signal: ctrl.signal,
          redirect: 'manual',
        };
        if (dispatcher) init.dispatcher = dispatcher;
        return await fn(base + call.path, init);
      } catch (err) {
        if (call.signal.aborted) throw call.signal.reason ?? err;
        throw mapFetchError(err, call.upstreamName, timedOut);
      } finally {
        if (timer) clearTimeout(timer);
        // The body may still be streaming: keep forwarding the caller's abort to it.
        // (The listener is removed by `once` or when the signal is garbage.)
      }
    },
    async close() {
      await agent.close();
    },
  };
}
