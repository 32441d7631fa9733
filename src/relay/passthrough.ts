/**
 * Pass-through for the other `/v1/*` endpoints (README "Endpoints"): `/v1/completions`, `/v1/embeddings`,
 * `/v1/responses`, files, audio … The body goes to the model's upstream as it came (re-encoded
 * only when a deployment renames the model); the answer streams back without buffering, with
 * backpressure. An SSE body goes through the stream pipeline (src/relay/pipeline.ts): one `data:`
 * line per event, LF only, what a line-reading client can parse. The record is filled as a chat
 * stream's: a `/v1/completions` stream asks its upstream for usage as chat does and hides it
 * again from a caller who did not ask; usage, the text to estimate from when there is none, and
 * the finish reason come from the events (src/relay/passthrough-observer.ts) or from a JSON body
 * (src/relay/finish-reason.ts). Both are bounded: an SSE event larger than
 * `server.maxEventBytes` (an endless line) ends its stream with an error frame
 * (test/security/upstream-bounds.test.ts); a JSON body over MAX_USAGE_BODY is not kept.
 */
import { InvalidRequestError, UpstreamError } from '../errors.js';
import { PassthroughStreamObserver } from './passthrough-observer.js';
import { finishReasonFromBody } from './finish-reason.js';
import { requestUsage, spliceUsageRequest, type UsageRequest } from '../usage/stream-options.js';
import type { Deployment } from '../upstream/router.js';
import type { UpstreamResponse } from '../upstream/transport.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import { runAttempts } from './attempts.js';
import { providerName } from '../providers/registry.js';
import { relayAttempt, type BodyRelay } from './upstream-call.js';
import type { RelayRequest } from './chat-request.js';
import { relayedHeaders } from './upstream-response.js';
import { CallerStream, type StreamEnd } from './caller.js';
import { PassthroughPipeline } from './pipeline.js';
import type { PumpResult, RelayOptions } from './relay-types.js';
import { readBody, type Waker, type BodyConsumer } from './upstream-body.js';

/** Largest JSON answer kept aside to read its usage. */
const MAX_USAGE_BODY = 4 * 1024 * 1024;

/** A pass-through request: a relay request with the path below `/v1` it goes to. */
export type PassthroughRequest = RelayRequest & { path: string };

/**
 * Relay a pass-through request; resolves with how it ended, for the request record. Each attempt
 * relays its answer's body from its head on (its head is committed then: nothing is retried after
 * a 2xx), so the body's end is the attempt's end, as on the chat path.
 */
export function relayPassthrough(r: PassthroughRequest, opts: RelayOptions): Promise<StreamEnd> {
  const { deps, ex } = r;
  const caller = new CallerStream(r.res, r.abort, opts, ex, r.extraHeaders);
  const usage = usageRequest(r);
  // Only deployments that speak OpenAI's API can take the request as it is; none: a 400, no attempt.
  const usable = r.route.deployments.filter((d) => providerName(d.upstreamConfig) === 'openai');
  if (usable.length === 0) {
    const d = r.route.deployments[0]!;
    return caller.settle(Promise.reject(untranslated(r.path, d.upstream, providerName(d.upstreamConfig))));
  }
  const route = usable.length === r.route.deployments.length ? r.route : { ...r.route, deployments: usable };
  const attempts = runAttempts<PumpResult>(deps, ex, route, r.abort.signal, (d) => {
    const body = upstreamBody(r, d, usage);
    const headers = upstreamRequestHeaders(r.req.headers, d.upstreamConfig, ex.id);
    const request = { path: r.path, method: r.req.method ?? 'GET', headers, body: body === undefined || body.length === 0 ? undefined : body };
    return relayAttempt(r, d, request, new PassthroughBody(r, caller, opts, d.upstream, usage), r.abort.signal);
  }).then((result) => {
    if (result.kind !== 'done' && result.error?.code === 'upstream_event_too_large') {
      deps.logger.warn({ requestId: ex.id, maxEventBytes: opts.maxEventBytes }, 'pass-through SSE event larger than server.maxEventBytes: its stream ends with an error frame');
    }
    return result;
  });
  return caller.settle(attempts);
}

/**
 * Pass-through forwards the caller's request as it is: only an upstream that speaks OpenAI's API
 * can take it. (Chat completions and the model list are translated for every provider.)
 */
function untranslated(path: string, upstream: string, provider: string): InvalidRequestError {
  return new InvalidRequestError(
    `/v1${path.split('?')[0]} cannot be served by upstream "${upstream}": it speaks the ${provider} API, and the proxy translates only /v1/chat/completions and /v1/models to it.`,
    { code: 'unsupported_endpoint' },
  );
}

/**
 * One attempt's answer, from its head: the head relayed with the upstream's status, then an SSE
 * body through the pass-through pipeline (src/relay/pipeline.ts), any other body as it comes, a
 * JSON one also kept aside (bounded) for its usage and finish reason.
 */
class PassthroughBody implements BodyRelay, BodyConsumer {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private isJson = false;

  constructor(
    private readonly r: PassthroughRequest,
    private readonly caller: CallerStream,
    private readonly opts: RelayOptions,
    private readonly upstreamName: string,
    private readonly usage: UsageRequest | null,
  ) {}

  run(upstreamRes: UpstreamResponse): Promise<PumpResult> {
    const { ex } = this.r;
    const caller = this.caller;
    const type = upstreamRes.headers.get('content-type') ?? '';
    const isSse = type.startsWith('text/event-stream');
    this.isJson = type.includes('json');
    ex.stream = isSse;
    const headers = relayedHeaders(upstreamRes.headers, this.opts.secrets);
    if (type) headers['content-type'] = type;
    const len = upstreamRes.headers.get('content-length');
    // (Not for SSE: re-framing may change its length.)
    if (len !== null && !isSse && !upstreamRes.headers.has('content-encoding')) headers['content-length'] = len;
    if (!isSse) {
      caller.commitWith(upstreamRes.status, headers);
      return readBody(upstreamRes, this).done.then((readError) => this.ended(readError));
    }
    headers['cache-control'] = 'no-cache';
    headers['x-accel-buffering'] = 'no';
    caller.openStream();
    caller.commitWith(upstreamRes.status, headers);
    ex.openStream();
    // Usage hidden again only where the proxy asked for it and the caller did not (chat's rule).
    const observer = new PassthroughStreamObserver(ex, this.r.tracker, this.usage !== null && !this.usage.callerAsked);
    return new PassthroughPipeline(caller, { observer }, this.upstreamName, this.opts.maxEventBytes).run(upstreamRes);
  }

  // BodyConsumer: a plain body, relayed read by read with backpressure.

  stopped(): boolean {
    return this.caller.stopped();
  }

  done(): boolean {
    return false;
  }

  take(chunk: Buffer): void {
    this.caller.writeRaw(chunk);
    if (this.isJson && this.keptBytes + chunk.length <= MAX_USAGE_BODY) {
      this.kept.push(chunk);
      this.keptBytes += chunk.length;
    }
  }

  mustWait(waker: Waker): boolean {
    return this.caller.mustWait(waker);
  }

  cancelWait(): void {
    this.caller.cancelWait();
  }

  /** A plain body's end: its usage and finish reason read from a whole JSON answer. */
  private ended(readError: unknown): PumpResult {
    const { ex, tracker } = this.r;
    if (this.caller.stopped()) return this.caller.stoppedResult(this.upstreamName)!;
    if (readError !== null) {
      return { kind: 'ended', reason: 'upstream_error', error: new UpstreamError(`Upstream "${this.upstreamName}" failed mid-body: ${(readError as Error).message}`, { code: 'upstream_disconnected' }) };
    }
    if (this.kept.length > 0) {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(this.kept, this.keptBytes).toString('utf8'));
        tracker.onBody(parsed);
        ex.finishReason = finishReasonFromBody(parsed);
      } catch {
        /* not JSON after all */
      }
    }
    return { kind: 'done' };
  }
}

/**
 * A `/v1/completions` stream asks its upstream for usage as a chat stream does
 * (src/usage/stream-options.ts), so its record counts the upstream's tokens; null for other
 * requests (`/v1/responses` streams end with usage in `response.completed` anyway).
 */
function usageRequest(r: RelayRequest & { path: string }): UsageRequest | null {
  if (r.raw === undefined || r.body.stream !== true) return null;
  const q = r.path.indexOf('?');
  return (q < 0 ? r.path : r.path.slice(0, q)) === '/completions' ? requestUsage(r.body) : null;
}

/** The body sent to deployment `d`: the bytes received, unless its model name or a usage request changes it. */
function upstreamBody(r: RelayRequest, d: Deployment, usage: UsageRequest | null): string | Buffer | undefined {
  if (usage === null || usage.body === r.body) {
    if (d.model !== undefined && r.raw !== undefined && typeof r.body.model === 'string') return JSON.stringify({ ...r.body, model: d.model });
    return r.raw;
  }
  // Only the usage request added (the common case): spliced into the bytes received, as chat does.
  if (d.model === undefined && r.raw !== undefined && r.body.stream_options === undefined) {
    const spliced = spliceUsageRequest(r.raw);
    if (spliced !== null) return spliced;
  }
  return JSON.stringify(d.model === undefined ? usage.body : { ...usage.body, model: d.model });
}

/** Thrown when the caller left before the relay began; the handler records `client_aborted`. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}
