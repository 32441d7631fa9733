/**
 * One chat attempt's upstream request, in the format of the deployment's provider
 * (src/providers/): the OpenAI path forwards the caller's bytes (usage requested, the deployment's
 * model name spliced in); another provider maps the body (src/providers/<name>/request.ts) and
 * gives the translator and the answer's identity (id, created, model) its answer is rebuilt with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RelayDeps } from './relay-deps.js';
import type { Exchange } from './exchange.js';
import type { AttemptRequest } from './upstream-call.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';
import type { Deployment, Route } from '../upstream/router.js';
import { callerAskedUsage, requestUsage, spliceUsageRequest } from '../usage/stream-options.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { UpstreamTap } from '../logging/tap.js';
import type { Canceller } from '../util/cancel.js';
import { providerOf } from '../providers/registry.js';
import type { AnswerContext, ChatProvider } from '../providers/types.js';
import type { ReplayLog } from '../streams/types.js';

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
  /** A resumable stream (README "Resumable streams"): its replay log; null/absent for every other request. */
  resume?: ResumeRequest | null;
}

/** What a resumable stream needs of the request. */
export interface ResumeRequest {
  /** The stream id (`x-stream-id`, `/v1/streams/{id}`). */
  id: string;
  log: ReplayLog;
  /** Answer 202 at once and generate for the log alone (`x-stream-detach: true`). */
  detached: boolean;
  /** The 202's JSON body. */
  detachedBody?: Record<string, unknown>;
  /** The log went over its bounds (a metric). */
  onOverflow(): void;
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

/** One attempt's request, and what its answer is read with. */
export interface ChatAttempt {
  request: AttemptRequest;
  /** The caller asked for usage (`stream_options.include_usage`): the usage chunk is theirs to see. */
  callerAsked: boolean;
  provider: ChatProvider;
  /** What a translated answer says of itself: one id, created and model for all its chunks (null on the OpenAI path). */
  answer: AnswerContext | null;
}

/** The upstream request for one chat attempt to `d` (src/relay/upstream-call.ts sends it). */
export function chatAttempt(r: RelayRequest, d: Deployment, stream: boolean): ChatAttempt {
  const provider = providerOf(d.upstreamConfig);
  const headers = upstreamRequestHeaders(r.req.headers, d.upstreamConfig, r.ex.id, {
    accept: stream ? 'text/event-stream' : 'application/json',
    contentType: 'application/json',
  });
  if (provider.name === 'openai') {
    const { text, callerAsked } = upstreamBody(r, d, stream);
    return { request: { path: '/chat/completions', method: 'POST', headers, body: text }, callerAsked, provider, answer: null };
  }
  const model = d.model ?? (r.body.model as string);
  const answer: AnswerContext = { id: `chatcmpl-${r.ex.id}`, created: Math.floor(r.deps.clock.now() / 1000), model };
  // A parameter the provider cannot honour throws a 400 naming it: the request fails, no other
  // deployment is tried (the same body would be refused the same way by another of this provider).
  const mapped = provider.chatRequest(r.body, { model, stream, defaultMaxTokens: d.upstreamConfig.defaultMaxTokens });
  return {
    request: { path: mapped.path, method: 'POST', headers, body: mapped.body },
    callerAsked: stream && callerAskedUsage(r.body),
    provider,
    answer,
  };
}
