/**
 * GET /v1/streams/{id}: read a resumable stream (README "Resumable streams") from where the reader
 * is — after `Last-Event-ID` (a browser's EventSource sends it by itself when it reconnects) or
 * `?after=<seq>` (for clients that cannot set headers), from the start otherwise — and follow it
 * live to its end (src/relay/replay-reader.ts).
 *
 * Only the key that started a stream reads it: with its key, or with the stream's read token
 * (`?token=`, src/http/stream-token.ts) for a browser's EventSource, which cannot send a key. Another key gets the same 404 as an unknown id,
 * not a 403: a 403 would tell whoever holds a leaked id that the stream exists and whose it is,
 * and the id itself is the unguessable part (src/streams/id.ts). A read is counted as a read
 * (`llm_proxy_stream_resumes_total`, its own request record), never as another generation: no
 * rate limit, no usage, no concurrency slot (those belong to the generating request).
 */
import type { AppDeps } from '../deps.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { relayReplay } from '../relay/replay-reader.js';
import { isStreamId } from '../streams/id.js';
import type { RouteTable } from './route-table.js';
import { streamOwner } from './resume-start.js';
import { streamTokens } from './stream-token.js';
import { scopeOf } from './request-context.js';

/** Frames fetched by the first read. */
const FIRST_BATCH = 256;

/** The position a reader asks to read after: `Last-Event-ID` (`<id>:<seq>`) or `?after=<seq>`; 0 for the start. */
function position(id: string, lastEventId: string, after: unknown): number {
  if (lastEventId !== '') {
    const colon = lastEventId.lastIndexOf(':');
    const seq = Number(lastEventId.slice(colon + 1));
    if (colon < 0 || lastEventId.slice(0, colon) !== id || !Number.isSafeInteger(seq) || seq < 0) {
      throw new InvalidRequestError(`Last-Event-ID "${lastEventId.slice(0, 80)}" is not an event of stream ${id}.`, { param: 'last-event-id', code: 'invalid_last_event_id' });
    }
    return seq;
  }
  if (after === undefined) return 0;
  const seq = typeof after === 'string' && /^\d{1,15}$/.test(after) ? Number(after) : NaN;
  if (Number.isNaN(seq)) throw new InvalidRequestError('after must be a non-negative integer (an event number).', { param: 'after', code: 'invalid_value' });
  return seq;
}

/** The `?token=` a reader presented, or null. */
function tokenOf(query: Record<string, unknown>): string | null {
  const t = query.token;
  return typeof t === 'string' && t !== '' ? t : null;
}

export function registerStreamRoutes(table: RouteTable, deps: AppDeps): void {
  const keepAliveMs = deps.config.server.keepAliveMs;
  const tokens = streamTokens(deps.config);
  table.add({
    methods: ['GET'],
    path: '/v1/streams/:id',
    // The API key, or a read token (checked against the stream's owner below, once it is known).
    access: {
      guard: (ctx) => {
        if (tokens !== null && tokenOf(ctx.query) !== null) return scopeOf(ctx).gateDraining();
        scopeOf(ctx).gateApi();
      },
    },
    handler: async (ctx) => {
      const id = String(ctx.params.id ?? '');
      const state = ctx.state;
      const notFound = (): NotFoundError => {
        deps.metrics.streamRead('not_found');
        return new NotFoundError('No such stream: it never existed, it expired, or another key started it.', { code: 'stream_not_found' });
      };
      if (!isStreamId(id)) throw notFound();
      const after = position(id, ctx.get('last-event-id'), ctx.query.after);
      const meta = await deps.streams.meta(id);
      const token = tokens !== null ? tokenOf(ctx.query) : null;
      const allowed = meta !== null && (token !== null ? tokens!.verify(id, meta.owner, token) : meta.owner === streamOwner(state));
      if (!allowed) throw notFound();
      const first = await deps.streams.read(id, after, { max: FIRST_BATCH, waitMs: 0 });
      if (first === null || meta === null) throw notFound();
      ctx.respond = false;
      state.handled = true;
      const ex = state.ex;
      ex.model = meta.model;
      ex.modelLabel = deps.router.label(meta.model);
      ex.stream = true;
      const { end: how, bytes } = await relayReplay(ctx.res, deps.streams, id, after, first, { keepAliveMs, headers: { 'x-request-id': ex.id, 'x-stream-id': id } });
      ex.bytesOut = bytes;
      if (how !== 'client') deps.metrics.streamRead(how);
      ex.finish(how === 'client' ? 'client_aborted' : how === 'lost' || how === 'overflow' || how === 'error' ? 'upstream_error' : 'done', ctx.res.statusCode);
    },
  });
}
