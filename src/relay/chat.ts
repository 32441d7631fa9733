/**
 * POST /v1/chat/completions: `stream:false` → JSON relay; `stream:true` → SSE relay,
 * with usage requested from the upstream and stripped again when the caller did not ask
 * (README "What the proxy guarantees"), over the attempt loop (src/relay/attempts.ts).
 * docs/ARCHITECTURE.md "One streamed chat request, file by file" follows one through.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RelayDeps } from './relay-deps.js';
import { UpstreamError } from '../errors.js';
import type { Exchange } from './exchange.js';
import type { PumpResult, RelayOptions } from './relay-types.js';
import { ChatObserver } from './chat-observer.js';
import { runAttempts } from './attempts.js';
import { relayAttempt, sendAttempt, type AttemptRequest } from './upstream-call.js';
import { readAll, relayedHeaders } from './upstream-response.js';
import { CallerStream, type StreamEnd } from './caller.js';
import { EventPipeline } from './pipeline.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import { configSecrets } from '../logging/secrets.js';
import type { Deployment, Route } from '../upstream/router.js';
import { tailUsage } from '../usage/tail-usage.js';
import { finishReasonFromBody, scanFinishReason } from './finish-reason.js';
import { requestUsage, spliceUsageRequest } from '../usage/stream-options.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { UpstreamTap } from '../logging/tap.js';
import type { Canceller } from '../util/cancel.js';

export type { StreamEnd } from './caller.js';

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

/** The upstream request for one chat attempt to `d` (src/relay/upstream-call.ts sends it). */
function chatRequest(r: RelayRequest, d: Deployment, body: string | Buffer, accept: string): AttemptRequest {
  const headers = upstreamRequestHeaders(r.req.headers, d.upstreamConfig, r.ex.id, { accept, contentType: 'application/json' });
  return { path: '/chat/completions', method: 'POST', headers, body };
}

/** stream:false — forward and return the upstream's status and JSON body unchanged. */
export async function relayChatJson(r: RelayRequest, opts: RelayOptions): Promise<void> {
  const { deps, ex } = r;
  // The caller side: its `close` cancels the upstream request (src/relay/caller.ts).
  const caller = new CallerStream(r.res, r.abort, opts, ex, r.extraHeaders);
  // The answering attempt's own start, for its record (an earlier failed attempt is recorded with its own).
  let started = 0;
  const upstreamRes = await runAttempts(deps, ex, r.route, r.abort.signal, (d) => {
    started = deps.clock.monotonic();
    return sendAttempt(r, d, chatRequest(r, d, upstreamBody(r, d, false).text, 'application/json'), r.abort.signal);
  });
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
      ex.addAttempt(ex.upstream ?? '', upstreamRes.status, err.message, started);
      throw err;
    }
    throw new UpstreamError(`Upstream "${ex.upstream}" broke off its response: ${(err as Error).message}`, { code: 'upstream_disconnected', cause: err });
  }
  ex.upstreamEndAt = deps.clock.monotonic();
  ex.addAttempt(ex.upstream ?? '', upstreamRes.status, null, started);
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
  caller.respond(
    upstreamRes.status,
    {
      ...relayedHeaders(upstreamRes.headers, opts.secrets),
      'content-type': upstreamRes.headers.get('content-type') ?? 'application/json',
      'content-length': String(buf.length),
    },
    buf,
  );
}

/**
 * The relay's knobs for an app: one object for all its requests (its functions close over the
 * app, not the request).
 */
export function streamRelayOptions(deps: RelayDeps): RelayOptions {
  const s = deps.config.server;
  return {
    keepAliveMs: s.keepAliveMs,
    idleTimeoutMs: s.idleTimeoutMs,
    maxStreamDurationMs: s.maxStreamDurationMs,
    maxEventBytes: s.maxEventBytes,
    secrets: configSecrets(deps.config),
    now: () => deps.clock.monotonic(),
    // A stream cut at its maximum duration is an abuse-limit refusal (src/http/abuse-limits.ts).
    onStop: (why) => {
      if (why === 'max_duration') deps.metrics.refused('stream_duration');
    },
  };
}

/**
 * stream:true — one pipeline per upstream attempt (src/relay/pipeline.ts), all writing to one
 * caller side (src/relay/caller.ts). Returns the end reason and status for the record.
 * `opts`: {@link streamRelayOptions} of the app.
 */
export function relayChatStream(r: RelayRequest, opts: RelayOptions): Promise<StreamEnd> {
  const { deps, ex } = r;
  const caller = new CallerStream(r.res, r.abort, opts, ex, r.extraHeaders);
  caller.openStream();
  // Continuations, not awaits, from here: a suspended async function (its frame, its promise, the
  // await's two functions) is ~0.5 KB of heap for as long as the stream is open (bench/heap.ts).
  return caller.settle(
    runAttempts<PumpResult>(deps, ex, r.route, r.abort.signal, (d) => {
      const { text, callerAsked } = upstreamBody(r, d, true);
      // The bytes received need not live as long as the stream (heap per open stream, bench/heap.ts):
      // the rare second attempt re-encodes the parsed body.
      r.raw = undefined;
      const pipeline = new EventPipeline(caller, { observer: new ChatObserver(ex, r.tracker, callerAsked, r.tap ?? null) }, d.upstream, opts.maxEventBytes);
      return relayAttempt(r, d, chatRequest(r, d, text, 'text/event-stream'), pipeline, r.abort.signal);
    }),
  );
}
