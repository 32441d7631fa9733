/**
 * Whether a chat request starts a resumable stream (README "Resumable streams"), and its replay
 * log: `x-stream-resume: true` (or the key's `resumable: true`, which `x-stream-resume: false`
 * turns off for one request), `x-stream-detach: true` for a detached start (202 now, read it with
 * GET /v1/streams/{id}). Asked of anything but a stream (`"stream": true`), it is a 400; when the
 * instance is at its bounds a stream goes on without resumption (`x-stream-resumable: false`),
 * and a detached start, which cannot, is a 503.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AppDeps } from '../deps.js';
import { InvalidRequestError, ServiceUnavailableError } from '../errors.js';
import type { ResumeRequest } from '../relay/chat-request.js';
import { newStreamId } from '../streams/id.js';
import type { ProxyState } from './request-context.js';
import type { StreamTokens } from './stream-token.js';

/** A boolean request header: absent, `true` or `false` (any case); anything else is a 400 naming it. */
function flag(headers: IncomingHttpHeaders, name: string): boolean | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  const s = (Array.isArray(v) ? v.join(',') : v).trim().toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw new InvalidRequestError(`The header ${name} must be "true" or "false".`, { param: name, code: 'invalid_header' });
}

/** Who may read a stream: the key that started it ('' when keys are off: every caller is the same anonymous one). */
export function streamOwner(state: ProxyState): string {
  return state.client?.name ?? '';
}

/** The stream's path for readers. */
export function streamUrl(id: string): string {
  return `/v1/streams/${id}`;
}

/**
 * The resumable stream this request starts, or null. Sets `x-stream-id` (and
 * `x-stream-resumable`) on every answer of the request, errors included. Call after admission: a
 * refused request opens no log.
 */
export function resumeFor(
  deps: AppDeps,
  tokens: StreamTokens | null,
  state: ProxyState,
  headers: IncomingHttpHeaders,
  body: Record<string, unknown>,
): ResumeRequest | null {
  const asked = flag(headers, 'x-stream-resume');
  const detached = flag(headers, 'x-stream-detach') === true;
  if (detached && asked === false) {
    throw new InvalidRequestError('x-stream-detach: true needs a resumable stream; drop x-stream-resume: false.', { param: 'x-stream-detach', code: 'invalid_header' });
  }
  const wanted = asked ?? (detached || state.client?.resumable === true);
  if (!wanted) return null;
  if (body.stream !== true) {
    // The key's default applies to streams only; a header asked for it on a non-stream.
    if (asked === undefined && !detached) return null;
    throw new InvalidRequestError(`${detached ? 'x-stream-detach' : 'x-stream-resume'} needs a streamed request ("stream": true).`, {
      param: 'stream',
      code: 'stream_required',
    });
  }
  const id = newStreamId();
  const model = typeof body.model === 'string' ? body.model : '';
  const log = deps.streams.open({ id, owner: streamOwner(state), model, createdAt: deps.clock.now() });
  // A copy: admission's headers object may be shared (src/limits/limiter.ts).
  const extra = (state.extraHeaders = { ...state.extraHeaders });
  if (log === null) {
    deps.metrics.resumable('refused');
    if (detached) {
      throw new ServiceUnavailableError('This proxy instance holds as many resumable streams as it may; retry shortly.', {
        code: 'stream_capacity',
        headers: { 'retry-after': '1' },
      });
    }
    extra['x-stream-resumable'] = 'false';
    return null;
  }
  deps.metrics.resumable('stored');
  extra['x-stream-id'] = id;
  extra['x-stream-resumable'] = 'true';
  // For a reader that cannot send the key (a browser's EventSource): src/http/stream-token.ts.
  const token = tokens?.sign(id, streamOwner(state));
  if (token !== undefined) extra['x-stream-token'] = token;
  return {
    id,
    log,
    detached,
    detachedBody: detached
      ? { id, object: 'chat.completion.stream', url: streamUrl(id), status: 'in_progress', model, created: Math.floor(deps.clock.now() / 1000), ...(token ? { read_token: token } : {}) }
      : undefined,
    onOverflow: () => deps.metrics.resumable('overflow'),
  };
}

/** A pass-through endpoint asked for a resumable stream: only chat completions have one (a clear 400, not a silent plain stream). */
export function refuseResume(headers: IncomingHttpHeaders, path: string): void {
  for (const name of ['x-stream-resume', 'x-stream-detach']) {
    if (flag(headers, name) === true) {
      throw new InvalidRequestError(`${name} is available on POST /v1/chat/completions only, not on ${path}.`, { param: name, code: 'unsupported_header' });
    }
  }
}
