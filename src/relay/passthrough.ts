/**
 * Pass-through for the other `/v1/*` endpoints (README "Endpoints"): `/v1/completions`, `/v1/embeddings`,
 * `/v1/responses`, files, audio … The body goes to the model's upstream as it came (re-encoded
 * only when a deployment renames the model); the answer streams back without buffering, with
 * backpressure. An SSE body is re-framed on the way (src/relay/passthrough-frames.ts): one `data:`
 * line per event, LF only, what a line-reading client can parse. The record is filled as a chat
 * stream's: a `/v1/completions` stream asks its upstream for usage as chat does and hides it
 * again from a caller who did not ask; usage, the text to estimate from when there is none, and
 * the finish reason come from the events (src/relay/passthrough-observer.ts) or from a JSON body
 * (src/relay/finish-reason.ts). Both are bounded: an SSE event larger than
 * `server.maxEventBytes` (an endless line) ends its stream with an error frame
 * (test/security/upstream-bounds.test.ts); a JSON body over MAX_USAGE_BODY is not kept.
 */
import type { EndReason } from '../events/types.js';
import type { RelayDeps } from './relay-deps.js';
import { encodeData } from '../sse/encoder.js';
import { toOpenAIError } from '../errors.js';
import { BatchWriter } from './batch-writer.js';
import { PassthroughFrames } from './passthrough-frames.js';
import { PassthroughStreamObserver } from './passthrough-observer.js';
import { finishReasonFromBody } from './finish-reason.js';
import { requestUsage, spliceUsageRequest, type UsageRequest } from '../usage/stream-options.js';
import type { Deployment } from '../upstream/router.js';
import { runAttempts } from './attempts.js';
import { sendAttempt } from './upstream-call.js';
import type { RelayRequest } from './chat.js';
import { relayedHeaders } from './upstream-response.js';
import type { UpstreamResponse } from '../upstream/transport.js';
import { serverTiming } from './server-timing.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import { configSecrets } from '../logging/secrets.js';
import { drained } from '../util/drained.js';

/** Largest JSON answer kept aside to read its usage. */
const MAX_USAGE_BODY = 4 * 1024 * 1024;

/** Relay a pass-through request whose body (raw) is `raw`. */
/** Relay a pass-through request; resolves with how it ended, for the request record. */
export async function relayPassthrough(r: RelayRequest & { raw: Buffer | undefined; path: string; deps: RelayDeps }): Promise<EndReason> {
  const { deps, ex, res, req } = r;
  const usage = usageRequest(r);
  const upstreamRes = await runAttempts<UpstreamResponse>(deps, ex, r.route, r.abort.signal, async (d) => {
    const started = deps.clock.monotonic();
    const body = upstreamBody(r, d, usage);
    const headers = upstreamRequestHeaders(req.headers, d.upstreamConfig, ex.id);
    // The shared attempt (src/relay/upstream-call.ts): same error-status rule, record and
    // `upstream.failed` as chat. The body is relayed as it streams, outside the attempt loop, so
    // a success is recorded at its head.
    const out = await sendAttempt(r, d, { path: r.path, method: req.method ?? 'GET', headers, body: body === undefined || body.length === 0 ? undefined : body }, r.abort.signal);
    if ('ok' in out) ex.addAttempt(d.upstream, out.ok.status, null, started);
    return out;
  });

  const type = upstreamRes.headers.get('content-type') ?? '';
  const isSse = type.startsWith('text/event-stream');
  const isJson = type.includes('json');
  ex.stream = isSse;
  const headers: Record<string, string> = {
    ...relayedHeaders(upstreamRes.headers, configSecrets(deps.config)),
    ...r.extraHeaders,
    'x-request-id': ex.id,
    'server-timing': serverTiming(ex, deps.clock.monotonic()),
  };
  if (type) headers['content-type'] = type;
  const len = upstreamRes.headers.get('content-length');
  // (Not for SSE: re-framing may change its length.)
  if (len !== null && !isSse && !upstreamRes.headers.has('content-encoding')) headers['content-length'] = len;
  if (isSse) {
    headers['cache-control'] = 'no-cache';
    headers['x-accel-buffering'] = 'no';
  }
  res.writeHead(upstreamRes.status, headers);
  ex.status = upstreamRes.status;

  // SSE: re-framed, usage observed per event. JSON: kept aside (bounded) for its usage.
  let frames: PassthroughFrames | null = null;
  const kept: Buffer[] = [];
  let keptBytes = 0;
  // One write per upstream read, counted as it goes out.
  const out = new BatchWriter(res, { writable: () => !res.destroyed, onWrite: (n) => (ex.bytesOut += n) });
  if (isSse) {
    res.socket?.setNoDelay(true);
    ex.openStream();
    // Usage hidden again only where the proxy asked for it and the caller did not (chat's rule).
    const observer = new PassthroughStreamObserver(ex, r.tracker, usage !== null && !usage.callerAsked, deps.clock);
    frames = new PassthroughFrames(out, observer, deps.config.server.maxEventBytes, ex.upstream ?? 'upstream');
  }

  const body = upstreamRes.body;
  let clientGone = false;
  res.once('close', () => {
    clientGone = !res.writableFinished;
  });
  let bodyEnded = false;
  let reason: EndReason = 'done';
  try {
    for await (const value of body as AsyncIterable<Uint8Array>) {
      if (frames !== null) {
        out.begin();
        frames.feed(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
        out.flush();
        // An oversized event: stop reading (leaving the loop destroys the upstream body).
        if (frames.error() !== null) break;
      } else {
        res.write(value);
        ex.bytesOut += value.length;
        if (isJson && keptBytes + value.length <= MAX_USAGE_BODY) {
          kept.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          keptBytes += value.length;
        }
      }
      if (res.writableNeedDrain) await drained(res);
      if (clientGone) break;
    }
    bodyEnded = !clientGone && frames?.error() == null;
  } catch (err) {
    if (!clientGone) {
      ex.error = `upstream failed mid-body: ${(err as Error).message}`;
      reason = 'upstream_error';
      res.destroy();
    }
  } finally {
    ex.upstreamEndAt = deps.clock.monotonic();
  }
  if (clientGone) {
    body.destroy();
    throw new ClientGone();
  }
  if (frames !== null && !res.destroyed) {
    out.begin();
    if (bodyEnded) frames.end();
    const failed = frames.error();
    if (failed !== null) {
      // As the chat relay after its head is out: a last `data: {"error":…}` frame, never a silent cut.
      ex.error = failed.message;
      reason = failed.code === 'upstream_truncated' ? 'upstream_truncated' : 'upstream_error';
      if (failed.code === 'upstream_event_too_large') {
        deps.logger.warn({ requestId: ex.id, maxEventBytes: frames.maxEventBytes }, 'pass-through SSE event larger than server.maxEventBytes: its stream ends with an error frame');
      }
      out.write(encodeData(JSON.stringify(toOpenAIError(failed).body)));
      res.shouldKeepAlive = false;
    }
    out.flush();
  }
  if (kept.length > 0) {
    try {
      const parsed: unknown = JSON.parse(Buffer.concat(kept, keptBytes).toString('utf8'));
      r.tracker.onBody(parsed);
      ex.finishReason = finishReasonFromBody(parsed);
    } catch {
      /* not JSON after all */
    }
  }
  if (!res.destroyed) res.end();
  return reason;
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

/** Thrown when the caller left mid-relay; the handler records `client_aborted`. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}
