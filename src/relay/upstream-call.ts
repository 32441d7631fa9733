/**
 * One upstream attempt, the same for chat (src/relay/chat.ts) and pass-through
 * (src/relay/passthrough.ts): send the request to a deployment, decide whether the answer is a
 * success, and when it is not, record the attempt, tell the bus, and hand the attempt loop
 * (src/relay/attempts.ts) an error outcome.
 *
 * The rule for an error status, for every path: only a 2xx is a success.
 * - 1xx never arrives here as a final answer: both transports skip interim 100/103 and refuse 101
 *   (src/upstream/h1/parser.ts, `node:http`).
 * - 3xx is an error, 502 `upstream_redirect`: the proxy never follows redirects (the injected
 *   fetch runs with `redirect: 'manual'`), and relaying one would send the caller's SDK, with
 *   its proxy key, to wherever the upstream's `Location` points, and show it the upstream's own
 *   URLs. An API upstream that redirects is misconfigured (http vs https, a moved base URL):
 *   the operator's problem, so it counts against the upstream like a 5xx, and another deployment
 *   may serve. Its body and headers are dropped, not relayed.
 * - 4xx/5xx become the caller's error with the same status ({@link errorFromUpstream}, which
 *   scrubs the config's secrets and turns 401/403 into 502).
 *
 * Every attempt is recorded on the exchange here, with the upstream's status (null when it never
 * answered); one whose body is relayed ({@link relayAttempt}) when its body ended.
 * `upstream.failed` goes on the bus for each failed attempt that counts against the upstream
 * ({@link isUpstreamFailure}: no answer, 408, 429, 5xx, 3xx), on both paths
 * (test/integration/failover.test.ts "upstream.failed").
 */
import { ProxyError, UpstreamError } from '../errors.js';
import { configSecrets } from '../logging/secrets.js';
import { mapFetchError } from '../upstream/client.js';
import type { Deployment } from '../upstream/router.js';
import type { UpstreamResponse } from '../upstream/transport.js';
import type { CancelSignal } from '../util/cancel.js';
import { isUpstreamFailure, type AttemptOutcome } from './attempts.js';
import type { Exchange } from './exchange.js';
import type { RelayDeps } from './relay-deps.js';
import type { PumpResult } from './relay-types.js';
import { errorFromUpstream } from './upstream-response.js';
import { providerOf } from '../providers/registry.js';

/** What one attempt sends. */
export interface AttemptRequest {
  /** Below the upstream's base URL, with query: `/chat/completions`, `/embeddings?x=1` … */
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Relays a successful answer's body to the caller (src/relay/pipeline.ts, src/relay/passthrough.ts). */
export interface BodyRelay {
  /** Called once, with a 2xx head, from inside the read that brought it; resolves with how the body ended. */
  run(res: UpstreamResponse): Promise<PumpResult>;
}

/** What an attempt needs of the request being relayed. */
export interface AttemptContext {
  deps: Pick<RelayDeps, 'config' | 'clock' | 'bus' | 'upstream'>;
  ex: Exchange;
}

/** The one rule: is this final upstream status an error for the caller? Only 2xx is not. */
export function isErrorStatus(status: number): boolean {
  return status < 200 || status >= 300;
}

/**
 * Send one attempt to `d` and relay its body with `relay`, which starts on a 2xx head at once
 * (from the read that brought it: the first event does not wait for the attempt to resolve, time
 * to first token, `npm run bench -- --only latency`). An error status or a transport failure becomes
 * an error outcome; a body that failed before any data reached the caller is retryable.
 */
export function relayAttempt(
  r: AttemptContext,
  d: Deployment,
  request: AttemptRequest,
  relay: BodyRelay,
  signal: CancelSignal,
): Promise<AttemptOutcome<PumpResult>> {
  const { deps, ex } = r;
  const started = deps.clock.monotonic();
  let running: Promise<PumpResult> | null = null;
  return sendAttempt(r, d, request, signal, (res) => (running = relay.run(res))).then((out) => {
    if (!('ok' in out)) return out;
    const status = out.ok.status;
    return (running ?? relay.run(out.ok)).then((pumped): AttemptOutcome<PumpResult> => {
      ex.upstreamEndAt = deps.clock.monotonic();
      const err = pumped.kind === 'done' ? null : pumped.error;
      ex.addAttempt(d.upstream, status, err?.message ?? (pumped.kind === 'ended' ? pumped.reason : null), started);
      if (pumped.kind === 'retryable') return { error: pumped.error, retryable: true };
      // A body that broke after data cannot be retried, but it is the upstream's failure (its circuit).
      const upstreamFailed = pumped.kind === 'ended' && (pumped.reason === 'upstream_error' || pumped.reason === 'upstream_truncated' || pumped.reason === 'idle_timeout');
      return { ok: pumped, upstreamFailed };
    });
  });
}

/**
 * Send one attempt to `d`; an error status or a transport failure becomes an error outcome. The
 * answer's body is the caller's to read (the JSON path reads it whole). `onHead` gets a 2xx head
 * as soon as it is parsed.
 */
export async function sendAttempt(
  r: AttemptContext,
  d: Deployment,
  request: AttemptRequest,
  signal: CancelSignal,
  onHead?: (res: UpstreamResponse) => void,
): Promise<AttemptOutcome<UpstreamResponse>> {
  const { deps, ex } = r;
  const started = deps.clock.monotonic();
  ex.upstreamSentAt ??= started;
  let headAt: number | null = null;
  let res: UpstreamResponse;
  try {
    res = await deps.upstream.send(
      {
        upstreamName: d.upstream,
        upstream: d.upstreamConfig,
        path: request.path,
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal,
        onResponse: (head) => {
          // The head's own time, not when the await resumes (after the rest of its read).
          headAt = deps.clock.monotonic();
          ex.upstreamHeadersAt = headAt;
          if (onHead !== undefined && !isErrorStatus(head.status)) onHead(head);
        },
      },
      deps.config.server.firstByteTimeoutMs,
    );
  } catch (err) {
    if (signal.aborted) throw err;
    return failed(r, d, null, err instanceof ProxyError ? err : mapFetchError(err, d.upstream), started);
  }
  ex.upstreamHeadersAt = headAt ?? deps.clock.monotonic();
  if (!isErrorStatus(res.status)) return { ok: res };
  if (res.status >= 300 && res.status < 400) {
    // Not read: nothing of a redirect is relayed (the connection is closed with it).
    res.body.destroy();
    const error = new UpstreamError(
      `Upstream "${d.upstream}" answered HTTP ${res.status}, a redirect, which the proxy does not follow; the proxy's operator must check this upstream's baseUrl.`,
      { code: 'upstream_redirect' },
    );
    return failed(r, d, res.status, error, started);
  }
  const provider = providerOf(d.upstreamConfig);
  const error = await errorFromUpstream(res, d.upstream, configSecrets(deps.config), (status, body) => provider.errorFrom(status, body));
  return failed(r, d, res.status, error, started);
}

/** Record a failed attempt, tell the bus when it is the upstream's failure, and say retry. */
function failed(r: AttemptContext, d: Deployment, status: number | null, error: ProxyError, started: number): AttemptOutcome<UpstreamResponse> {
  const { deps, ex } = r;
  ex.addAttempt(d.upstream, status, error.message, started);
  if (isUpstreamFailure(error)) deps.bus.emit('upstream.failed', { id: ex.id, upstream: d.upstream, status, error: error.message, at: deps.clock.now() });
  return { error, retryable: true };
}
