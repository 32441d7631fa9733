/**
 * Pass-through for the other `/v1/*` endpoints (issue 2): `/v1/completions`, `/v1/embeddings`,
 * `/v1/responses`, files, audio … The body goes to the model's upstream as it came (re-encoded
 * only when a deployment renames the model); the answer streams back without buffering, with
 * backpressure. An SSE body is re-framed on the way (src/relay/passthrough-frames.ts): one `data:`
 * line per event, LF only, what a line-reading client can parse. Usage is read on the side for
 * accounting (issue 3): from a JSON body, or from the events of an SSE body (`usage`, or
 * `response.usage` in the Responses API). Both are bounded: an SSE event larger than
 * `server.maxEventBytes` (an endless line) ends its stream with an error frame
 * (test/security/upstream-bounds.test.ts); a JSON body over MAX_USAGE_BODY is not kept.
 */
import type { AppDeps } from '../deps.js';
import { ProxyError } from '../errors.js';
import { encodeData } from '../sse/encoder.js';
import { toOpenAIError } from '../errors.js';
import { BatchWriter } from './batch-writer.js';
import { PassthroughFrames, type PassthroughObserver } from './passthrough-frames.js';
import { usageFromBody } from '../usage/chunk.js';
import { runAttempts } from './attempts.js';
import type { RelayRequest } from './chat.js';
import { errorFromUpstream, relayedHeaders } from './upstream-response.js';
import type { UpstreamResponse } from '../upstream/transport.js';
import { serverTiming } from './server-timing.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import { configSecrets } from '../logging/secrets.js';
import { drained } from '../util/drained.js';

/** Largest JSON answer kept aside to read its usage. */
const MAX_USAGE_BODY = 4 * 1024 * 1024;

/** Relay a pass-through request whose body (raw) is `raw`. */
export async function relayPassthrough(r: RelayRequest & { raw: Buffer | undefined; path: string; deps: AppDeps }): Promise<void> {
  const { deps, ex, res, req } = r;
  const upstreamRes = await runAttempts<UpstreamResponse>(deps, ex, r.route, r.abort.signal, async (d) => {
    const started = deps.clock.monotonic();
    ex.upstreamSentAt ??= started;
    let body: string | Buffer | undefined = r.raw;
    if (d.model !== undefined && r.raw !== undefined && typeof r.body.model === 'string') body = JSON.stringify({ ...r.body, model: d.model });
    try {
      const resp = await deps.upstream.send(
        {
          upstreamName: d.upstream,
          upstream: d.upstreamConfig,
          path: r.path,
          method: req.method ?? 'GET',
          headers: upstreamRequestHeaders(req.headers, d.upstreamConfig, ex.id),
          body: body === undefined || body.length === 0 ? undefined : body,
          signal: r.abort.signal,
        },
        deps.config.server.firstByteTimeoutMs,
      );
      ex.upstreamHeadersAt = deps.clock.monotonic();
      if (resp.status >= 400) {
        const error = await errorFromUpstream(resp, d.upstream, configSecrets(deps.config));
        ex.addAttempt(d.upstream, resp.status, error.message, started);
        return { error, retryable: true };
      }
      ex.addAttempt(d.upstream, resp.status, null, started);
      return { ok: resp };
    } catch (err) {
      if (r.abort.signal.aborted) throw err;
      const error = err instanceof ProxyError ? err : new ProxyError(502, 'upstream_error', String(err));
      ex.addAttempt(d.upstream, null, error.message, started);
      return { error, retryable: true };
    }
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
    frames = new PassthroughFrames(out, usageObserver(r, deps), deps.config.server.maxEventBytes, ex.upstream ?? 'upstream');
  }

  const body = upstreamRes.body;
  let clientGone = false;
  res.once('close', () => {
    clientGone = !res.writableFinished;
  });
  let bodyEnded = false;
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
      r.tracker.onBody(JSON.parse(Buffer.concat(kept, keptBytes).toString('utf8')));
    } catch {
      /* not JSON after all */
    }
  }
  if (!res.destroyed) res.end();
}


/** Usage from a pass-through SSE stream: `usage` on the event (completions) or on its `response` (Responses API). */
function usageObserver(r: RelayRequest, deps: AppDeps): PassthroughObserver {
  const { ex } = r;
  const observe = (data: string): void => {
    ex.chunks++;
    ex.markToken(deps.clock.monotonic());
    if (!data.includes('usage')) return;
    try {
      const obj = JSON.parse(data) as { response?: unknown };
      if (usageFromBody(obj) !== null) r.tracker.onBody(obj);
      else if (usageFromBody(obj.response) !== null) r.tracker.onBody(obj.response);
    } catch {
      /* not JSON: nothing to count */
    }
  };
  return {
    onEvent: observe,
    onBytes(buf, start, end) {
      // Decoded only when it may hold usage (most events are deltas without it).
      if (buf.subarray(start, end).indexOf(USAGE) === -1) {
        ex.chunks++;
        ex.markToken(deps.clock.monotonic());
        return;
      }
      observe(buf.toString('utf8', start, end));
    },
  };
}

const USAGE = Buffer.from('usage');

/** Thrown when the caller left mid-relay; the handler records `client_aborted`. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}
