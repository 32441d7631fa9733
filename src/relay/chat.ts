/**
 * POST /v1/chat/completions: `stream:false` → JSON relay; `stream:true` → SSE relay,
 * with usage requested from the upstream and stripped again when the caller did not ask
 * (README "What the proxy guarantees"), over the attempt loop (src/relay/attempts.ts).
 * docs/ARCHITECTURE.md "One streamed chat request, file by file" follows one through.
 */
import type { RelayDeps } from './relay-deps.js';
import { UpstreamError } from '../errors.js';
import type { PumpResult, RelayOptions } from './relay-types.js';
import { ChatObserver } from './chat-observer.js';
import { runAttempts } from './attempts.js';
import { relayAttempt, sendAttempt } from './upstream-call.js';
import { readAll, relayedHeaders } from './upstream-response.js';
import { CallerStream, type StreamEnd } from './caller.js';
import { EventPipeline } from './pipeline.js';
import { configSecrets } from '../logging/secrets.js';
import { tailUsage } from '../usage/tail-usage.js';
import { finishReasonFromBody, scanFinishReason } from './finish-reason.js';
import { chatAttempt, type ChatAttempt, type RelayRequest, type ResumeRequest } from './chat-request.js';
import { ReplayTee } from './replay-tee.js';

export type { StreamEnd } from './caller.js';
export type { RelayRequest } from './chat-request.js';

/** stream:false — forward and return the upstream's status and JSON body unchanged. */
export async function relayChatJson(r: RelayRequest, opts: RelayOptions): Promise<void> {
  const { deps, ex } = r;
  // The caller side: its `close` cancels the upstream request (src/relay/caller.ts).
  const caller = new CallerStream(r.res, r.abort, opts, ex, r.extraHeaders);
  // The answering attempt's own start, for its record (an earlier failed attempt is recorded with its own).
  let started = 0;
  // The provider of the deployment that answered: it reads the whole answer below.
  let answered = null as ChatAttempt | null;
  const upstreamRes = await runAttempts(deps, ex, r.route, r.abort.signal, (d) => {
    started = deps.clock.monotonic();
    answered = chatAttempt(r, d, false);
    return sendAttempt(r, d, answered.request, r.abort.signal);
  });
  // Another provider's answer is rebuilt as OpenAI's (its `answer` says how); OpenAI's is relayed.
  const translated = answered!.answer !== null ? { provider: answered!.provider, answer: answered!.answer } : null;
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
  const usage = r.tap || translated ? undefined : tailUsage(buf);
  if (usage === undefined || !r.tracker.onBody({ usage })) {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(buf.toString('utf8'));
    } catch {
      if (translated) throw unreadable(ex.upstream);
      /* relayed as is */
    }
    r.tap?.onBody(parsed, ex.upstream);
    if (translated) {
      // Another provider's answer, as OpenAI's `chat.completion` (src/providers/<name>/response.ts).
      parsed = translated.provider.chatResponse(parsed, translated.answer);
      buf = Buffer.from(JSON.stringify(parsed));
    }
    r.tracker.onBody(parsed);
    ex.finishReason = finishReasonFromBody(parsed);
  } else {
    // Not parsed: a byte search for the first `"finish_reason"` key (src/relay/finish-reason.ts).
    ex.finishReason = scanFinishReason(buf);
  }
  caller.respond(
    upstreamRes.status,
    {
      ...relayedHeaders(upstreamRes.headers, opts.secrets),
      'content-type': translated ? 'application/json' : (upstreamRes.headers.get('content-type') ?? 'application/json'),
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
  const tee = r.resume ? resumable(caller, r.resume) : null;
  caller.openStream();
  // Continuations, not awaits, from here: a suspended async function (its frame, its promise, the
  // await's two functions) is ~0.5 KB of heap for as long as the stream is open (bench/heap.ts).
  return caller.settle(
    runAttempts<PumpResult>(deps, ex, r.route, r.abort.signal, (d) => {
      const a = chatAttempt(r, d, true);
      // The bytes received need not live as long as the stream (heap per open stream, bench/heap.ts):
      // the rare second attempt re-encodes the parsed body.
      r.raw = undefined;
      const stages = {
        translator: a.answer === null ? null : a.provider.streamTranslator(a.answer),
        observer: new ChatObserver(ex, r.tracker, a.callerAsked, r.tap ?? null),
        tee,
      };
      const pipeline = new EventPipeline(caller, stages, d.upstream, opts.maxEventBytes);
      return relayAttempt(r, d, a.request, pipeline, r.abort.signal);
    }),
  );
}

/** A 2xx answer from a translated provider that is not JSON: nothing to translate. */
function unreadable(upstream: string | null): UpstreamError {
  return new UpstreamError(`Upstream "${upstream}" sent an answer that is not JSON.`, { code: 'upstream_invalid_response' });
}

/**
 * A resumable stream: every frame through the replay tee, the generation kept going when the
 * caller leaves; a detached start answers 202 now and generates for the log alone.
 */
function resumable(caller: CallerStream, resume: ResumeRequest): ReplayTee {
  const tee = new ReplayTee(resume.id, resume.log, resume.onOverflow);
  caller.keepGenerating(tee);
  if (resume.detached) caller.detach(Buffer.from(JSON.stringify(resume.detachedBody ?? { id: resume.id })));
  return tee;
}
