/**
 * POST /v1/chat/completions: `stream:false` → JSON relay; `stream:true` → SSE relay,
 * with usage requested from the upstream and stripped again when the caller did not ask
 * (README "What the proxy guarantees"), over the attempt loop (src/relay/attempts.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RelayDeps } from './relay-deps.js';
import { ProxyError, UpstreamError } from '../errors.js';
import type { Exchange } from './exchange.js';
import { SseRelay } from './sse-relay.js';
import type { PumpResult, RelayOptions, RelayOwner } from './relay-types.js';
import { ChatObserver } from './chat-observer.js';
import { runAttempts, type AttemptOutcome } from './attempts.js';
import { sendAttempt } from './upstream-call.js';
import { readAll, relayedHeaders } from './upstream-response.js';
import type { UpstreamHeaders, UpstreamResponse } from '../upstream/transport.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import { configSecrets } from '../logging/secrets.js';
import type { Deployment, Route } from '../upstream/router.js';
import { tailUsage } from '../usage/tail-usage.js';
import { finishReasonFromBody, scanFinishReason } from './finish-reason.js';
import { requestUsage, spliceUsageRequest } from '../usage/stream-options.js';
import type { UsageTracker } from '../usage/tracker.js';
import { serverTiming } from './server-timing.js';
import type { UpstreamTap } from '../logging/tap.js';
import { SHUTDOWN, type Canceller, type CancelSignal } from '../util/cancel.js';
import type { EndReason } from '../events/types.js';

/** Everything a relay path needs about the request. */
export interface RelayRequest {
  deps: RelayDeps;
  ex: Exchange;
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  body: Record<string, unknown>;
  /** The body as received: sent as is when the proxy need not change it. */
  raw?: Buffer;
  /** Headers from admission (x-ratelimit-*), set on every response. */
  extraHeaders: Record<string, string>;
  tracker: UsageTracker;
  /** Aborted when the caller disconnects or the proxy stops the request. */
  abort: Canceller;
  /** Debug line per upstream event and content capture (README "Content logging (off by default)"); null/absent when both are off. */
  tap?: UpstreamTap | null;
}

/** The body sent to one deployment: its model name, and usage requested for streams. */
function upstreamBody(r: RelayRequest, d: Deployment, stream: boolean): { text: string | Buffer; callerAsked: boolean } {
  let out = r.body;
  let callerAsked = false;
  if (stream) ({ body: out, callerAsked } = requestUsage(r.body));
  if (d.model !== undefined) out = { ...out, model: d.model };
  // Unchanged (non-stream, or the caller already asked for usage): forward the bytes received.
  if (out === r.body && r.raw !== undefined) return { text: r.raw, callerAsked };
  // Only the usage request added (the common case): splice it into the bytes received.
  if (d.model === undefined && r.raw !== undefined && r.body.stream_options === undefined) {
    const spliced = spliceUsageRequest(r.raw);
    if (spliced !== null) return { text: spliced, callerAsked };
  }
  return { text: JSON.stringify(out), callerAsked };
}

/**
 * Send one chat request to `d` (src/relay/upstream-call.ts: the error-status rule, the attempt
 * record and `upstream.failed`, shared with pass-through). `onResponse` gets a 2xx head only.
 */
function callUpstream(
  r: RelayRequest,
  d: Deployment,
  bodyText: string | Buffer,
  accept: string,
  signal: CancelSignal,
  onResponse?: (res: UpstreamResponse) => void,
): Promise<AttemptOutcome<UpstreamResponse>> {
  const headers = upstreamRequestHeaders(r.req.headers, d.upstreamConfig, r.ex.id, { accept, contentType: 'application/json' });
  return sendAttempt(r, d, { path: '/chat/completions', method: 'POST', headers, body: bodyText, onResponse }, signal);
}

/** stream:false — forward and return the upstream's status and JSON body unchanged. */
export async function relayChatJson(r: RelayRequest): Promise<void> {
  const { deps, ex, res } = r;
  const upstreamRes = await runAttempts(deps, ex, r.route, r.abort.signal, (d) =>
    callUpstream(r, d, upstreamBody(r, d, false).text, 'application/json', r.abort.signal),
  );
  // Bounded (`server.maxUpstreamBodyBytes`): the whole answer is held before its head is written,
  // whether or not the caller reads it, so a larger one is refused with 502, nothing relayed.
  const limit = deps.config.server.maxUpstreamBodyBytes;
  const tooLarge = (): UpstreamError =>
    new UpstreamError(`Upstream "${ex.upstream}" sent a response larger than the limit of ${limit} bytes (server.maxUpstreamBodyBytes).`, {
      code: 'upstream_response_too_large',
    });
  let buf: Buffer;
  try {
    buf = await readAll(upstreamRes, limit, tooLarge);
  } catch (err) {
    if (r.abort.signal.aborted) throw err;
    if (err instanceof UpstreamError && err.code === 'upstream_response_too_large') {
      ex.upstreamEndAt = deps.clock.monotonic();
      ex.addAttempt(ex.upstream ?? '', upstreamRes.status, err.message, ex.upstreamSentAt!);
      throw err;
    }
    throw new UpstreamError(`Upstream "${ex.upstream}" broke off its response: ${(err as Error).message}`, { code: 'upstream_disconnected', cause: err });
  }
  ex.upstreamEndAt = deps.clock.monotonic();
  ex.addAttempt(ex.upstream ?? '', upstreamRes.status, null, ex.upstreamSentAt!);
  // The usage is all the record needs of the answer, unless the debug line or content capture
  // wants the whole of it: read from the end of the bytes, no decode or parse of the rest
  // (docs/ARCHITECTURE.md "Performance rules").
  const usage = r.tap ? undefined : tailUsage(buf);
  if (usage === undefined || !r.tracker.onBody({ usage })) {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(buf.toString('utf8'));
    } catch {
      /* relayed as is */
    }
    r.tracker.onBody(parsed);
    r.tap?.onBody(parsed, ex.upstream);
    ex.finishReason = finishReasonFromBody(parsed);
  } else {
    // Not parsed: a byte search for the first `"finish_reason"` key (src/relay/finish-reason.ts).
    ex.finishReason = scanFinishReason(buf);
  }
  const headers: Record<string, string> = {
    ...relayedHeaders(upstreamRes.headers, configSecrets(deps.config)),
    ...r.extraHeaders,
    'content-type': upstreamRes.headers.get('content-type') ?? 'application/json',
    'content-length': String(buf.length),
    'x-request-id': ex.id,
    'server-timing': serverTiming(ex, deps.clock.monotonic()),
  };
  res.writeHead(upstreamRes.status, headers);
  res.end(buf);
  ex.bytesOut = buf.length;
  ex.status = upstreamRes.status;
}

/**
 * The relay's timing knobs for an app: one object for all its streams (its functions close over
 * the app, not the request).
 */
export function streamRelayOptions(deps: RelayDeps): RelayOptions {
  const s = deps.config.server;
  return {
    keepAliveMs: s.keepAliveMs,
    idleTimeoutMs: s.idleTimeoutMs,
    maxStreamDurationMs: s.maxStreamDurationMs,
    maxEventBytes: s.maxEventBytes,
    now: () => deps.clock.monotonic(),
    // Issue 7: a stream cut at its maximum duration is an abuse-limit refusal.
    onStop: (why) => {
      if (why === 'max_duration') deps.metrics.refused('stream_duration');
    },
  };
}

/** How a stream ended, for the record. */
export interface StreamEnd {
  reason: EndReason;
  status: number;
}

/** What the relay asks of a chat stream's request. */
class ChatStreamOwner implements RelayOwner {
  /** The 2xx upstream head being relayed (its headers go to the caller on commit). */
  upstreamHeaders: UpstreamHeaders | null = null;

  constructor(private readonly r: RelayRequest) {}

  headersOnCommit(): Record<string, string> {
    const { ex, deps } = this.r;
    ex.openStream();
    return {
      ...(this.upstreamHeaders ? relayedHeaders(this.upstreamHeaders, configSecrets(deps.config)) : {}),
      ...this.r.extraHeaders,
      'x-request-id': ex.id,
      'server-timing': serverTiming(ex, deps.clock.monotonic()),
    };
  }

  onWrite(bytes: number): void {
    this.r.ex.bytesOut += bytes;
  }
}

/**
 * stream:true — the incremental SSE relay. Returns the end reason and status for the record.
 * `opts`: {@link streamRelayOptions} of the app.
 */
export function relayChatStream(r: RelayRequest, opts: RelayOptions): Promise<StreamEnd> {
  const { deps, ex, res } = r;
  const owner = new ChatStreamOwner(r);
  const relay = new SseRelay(res, opts, owner);
  r.abort.signal.addEventListener('abort', () => relay.stop(r.abort.signal.reason === SHUTDOWN ? 'shutdown' : 'client'), { once: true });
  // The request's own controller is the upstream's: a stop by the relay (idle, max duration, a
  // stalled caller) ends the request anyway, so no controller per attempt (heap per
  // open stream, bench/heap.ts).
  relay.attach(r.abort);
  // Continuations, not awaits, from here: a suspended async function (its frame, its promise, the
  // await's two functions) is ~0.5 KB of heap for as long as the stream is open (bench/heap.ts).
  return runAttempts<PumpResult>(deps, ex, r.route, r.abort.signal, async (d) => {
    const { text, callerAsked } = upstreamBody(r, d, true);
    const started = deps.clock.monotonic();
    const att = relay.begin(new ChatObserver(ex, r.tracker, callerAsked, r.tap ?? null), d.upstream);
    const out = await callUpstream(r, d, text, 'text/event-stream', r.abort.signal, (res) => {
      // A 2xx head (sendAttempt calls this for no other): relay from this very read (what the
      // await below would only see after it).
      owner.upstreamHeaders = res.headers;
      // The bytes received need not live as long as the stream (heap per open stream, bench/heap.ts):
      // the rare retry after a 2xx that failed before its first event re-encodes the parsed body.
      r.raw = undefined;
      relay.early(att, res);
    });
    if (!('ok' in out)) return out;
    return relay.pump(att, out.ok).then((pumped): AttemptOutcome<PumpResult> => {
      ex.upstreamEndAt = deps.clock.monotonic();
      const err = pumped.kind === 'done' ? null : pumped.error;
      ex.addAttempt(d.upstream, 200, err?.message ?? (pumped.kind === 'ended' ? pumped.reason : null), started);
      if (pumped.kind === 'retryable') {
        // That upstream's head must not reach the caller if a keep-alive commits while the next
        // deployment is asked (test/unit/sse-relay.test.ts "headers of the deployment that serves").
        owner.upstreamHeaders = null;
        return { error: pumped.error, retryable: true };
      }
      // A stream that broke after data cannot be retried, but it is the upstream's failure (its circuit).
      const upstreamFailed = pumped.kind === 'ended' && (pumped.reason === 'upstream_error' || pumped.reason === 'upstream_truncated' || pumped.reason === 'idle_timeout');
      return { ok: pumped, upstreamFailed };
    });
  }).then(
    (result) => endStream(r, relay, result, null),
    (err: unknown) => {
      // Stopped by the relay itself before the upstream answered (idle, shutdown, max duration, the
      // caller left): the stop reason, not the abort it caused, says how the request ends.
      const stopped = relay.stoppedResult(ex.upstream ?? 'upstream');
      if (stopped !== null) return endStream(r, relay, stopped, null);
      if (!(err instanceof ProxyError)) throw err;
      return endStream(r, relay, null, err);
    },
  );
}

/** Finish a stream's response: with how its last attempt ended, or with the error every attempt ended in. */
function endStream(r: RelayRequest, relay: SseRelay, result: PumpResult | null, error: ProxyError | null): StreamEnd {
  const { deps, ex } = r;
  if (result === null) {
    // Every attempt failed before data: a real status if the head is not out yet.
    ex.error = error!.message;
    const status = relay.end(error, () => ({ ...r.extraHeaders, 'x-request-id': ex.id, 'server-timing': serverTiming(ex, deps.clock.monotonic()) }));
    return { reason: 'upstream_error', status };
  }
  if (result.kind === 'done') return { reason: 'done', status: relay.end(null) };
  if (result.kind === 'ended') {
    if (result.error) ex.error = result.error.message;
    return { reason: result.reason, status: relay.end(result.error) };
  }
  return { reason: 'upstream_error', status: relay.end(result.error) };
}
