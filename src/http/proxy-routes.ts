/**
 * The OpenAI-compatible routes: chat completions, models, and pass-through for the endpoints
 * listed in `passthrough.endpoints` (src/config/schema.ts). Each relay takes the raw socket from
 * Koa (`ctx.respond = false`) so nothing buffers a stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import type { AppDeps, Admission } from '../deps.js';
import type { PassthroughEndpoint } from '../config/schema.js';
import { NotFoundError, PermissionDeniedError, ServiceUnavailableError } from '../errors.js';
import type { Route } from '../upstream/router.js';
import { UsageTracker } from '../usage/tracker.js';
import { checkModelName, readJsonObject, readRawBody, requireModel, validateChatBody } from './body.js';
import { forwardedBody } from './forwarded-body.js';
import type { RouteTable } from './route-table.js';
import { registerModelRoutes } from './model-routes.js';
import { refuseResume, resumeFor } from './resume-start.js';
import { streamTokens } from './stream-token.js';
import { registerStreamRoutes } from './stream-routes.js';
import type { ProxyState } from './request-context.js';
import { relayChatJson, relayChatStream, streamRelayOptions, type RelayRequest, type StreamEnd } from '../relay/chat.js';
import type { ResumeRequest } from '../relay/chat-request.js';
import { relayPassthrough, ClientGone } from '../relay/passthrough.js';
import { writeJsonError } from '../util/write-error.js';
import type { Inflight } from '../shutdown.js';
import { contentForLog } from '../logging/content.js';
import { scrubErrors } from '../logging/secrets.js';
import { createUpstreamTap } from '../logging/tap.js';
import { Cancel } from '../util/cancel.js';

/** Resolve the model's route or answer 404 model_not_found, as OpenAI does. */
function routeFor(deps: AppDeps, model: string): Route {
  const route = deps.router.resolve(model);
  if (!route) {
    throw new NotFoundError(`The model \`${model}\` does not exist or you do not have access to it.`, { param: 'model' });
  }
  return route;
}

/**
 * The caller's key may use `model` (403 otherwise): checked before the model is routed, so no
 * routing work is done or cached for a name the key may not use.
 */
function permit(deps: AppDeps, state: ProxyState, model: string): void {
  const client = state.client;
  if (!deps.permit || !client) return;
  if (model === '' && client.models !== undefined) {
    throw new PermissionDeniedError(`The API key "${client.name}" may only use the models it is given: name one in "model".`, { param: 'model' });
  }
  deps.permit(client, model);
}

/** Admission (the key's limits), then `request.start`. */
async function admit(deps: AppDeps, state: ProxyState, route: Route, body: Record<string, unknown>): Promise<Admission | null> {
  const ex = state.ex;
  ex.modelLabel = route.label;
  let admission: Admission | null = null;
  if (deps.admit) {
    admission = await deps.admit({ client: state.client ?? null, route: ex.route, model: ex.model, label: route.label, upstream: route.deployments[0]!.upstream, body });
    state.extraHeaders = admission.headers;
    ex.onEnd(() => admission!.settle(ex.usage ? ex.usage.promptTokens + ex.usage.completionTokens : null, ex.usage ?? undefined));
  }
  deps.bus.emit('request.start', { id: ex.id, method: ex.method, route: ex.route, key: ex.key, model: ex.model, stream: ex.stream, at: deps.clock.now() });
  return admission;
}

/**
 * Run a relay that owns the response: registers it for graceful shutdown, finishes the exchange
 * with the right end reason whatever happens, renders errors that happen before the head.
 * (Continuations rather than an async function: a suspended one is ~0.5 KB of heap for as long as
 * a stream is open, bench/heap.ts.)
 */
function owned(
  deps: AppDeps,
  inflight: Inflight,
  state: ProxyState,
  r: RelayRequest,
  run: () => Promise<StreamEnd>,
): Promise<void> {
  state.handled = true;
  const { res } = r;
  const release = inflight.add(r.abort);
  // (A caller that leaves cancels the request from the relay's caller side, src/relay/caller.ts:
  // the one `close` listener.)
  let ran: Promise<StreamEnd>;
  try {
    // The caller may have left while admission awaited the store (a Redis round trip): its
    // 'close' fired before the listener above existed.
    if (res.destroyed) {
      // Nothing was generated: a reader of its log learns so at once.
      r.resume?.log.abandon();
      throw new ClientGone();
    }
    ran = run();
  } catch (err) {
    ran = Promise.reject(err);
  }
  return ran.then(
    (end) => finishOwned(deps, r, release, end),
    (err: unknown) => {
      let end: StreamEnd;
      try {
        end = failedEnd(inflight, r, err);
      } catch (e) {
        release();
        throw e;
      }
      finishOwned(deps, r, release, end);
    },
  );
}

/** How a relay that threw ends: the caller gone, an error rendered before the head, or the connection cut after it. */
function failedEnd(inflight: Inflight, r: RelayRequest, err: unknown): StreamEnd {
  const { ex, res } = r;
  if (err instanceof ClientGone || (res.destroyed && !res.writableFinished)) {
    return { reason: 'client_aborted', status: res.headersSent ? res.statusCode : 499 };
  }
  if (!res.headersSent) {
    const shutdown = inflight.isShutdown(r.abort);
    const shown = shutdown ? new ServiceUnavailableError('The proxy is shutting down; retry on another instance.', { code: 'server_shutdown' }) : err;
    const status = writeJsonError(res, shown, { ...r.extraHeaders, 'x-request-id': ex.id });
    ex.error = (shown as Error).message;
    return { reason: shutdown ? 'shutdown' : 'upstream_error', status };
  }
  ex.error = (err as Error).message;
  const status = res.statusCode;
  res.destroy();
  return { reason: 'upstream_error', status };
}

/** The relay is over: out of the shutdown set, usage counted, the exchange finished (its record). */
function finishOwned(deps: AppDeps, r: RelayRequest, release: () => void, { reason, status }: StreamEnd): void {
  release();
  const { ex } = r;
  // An upstream that refused (error status, nothing relayed) billed nothing: count zeros, which
  // also hands the whole token reservation back to the limiter. A caller that left is billed.
  ex.usage =
    status >= 400 && reason !== 'client_aborted'
      ? { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, source: 'upstream' }
      : r.tracker.final();
  // An upstream's error text may echo the caller's body; content logging is off by
  // default and its messages and answer are scrubbed and truncated.
  scrubErrors(ex, deps.config);
  if (deps.config.logging.content) ex.content = contentForLog(deps.config, r.body, r.tap ? r.tap.message() : r.tracker.text());
  ex.finish(reason, status);
}

/**
 * POST /v1/chat/completions for one request: read and check the body, route, admit, relay. It
 * needs only the request's state and its raw request and response, so the same handler serves
 * under Koa and on the lane that bypasses it (src/http/chat-lane.ts). Errors thrown before the
 * relay owns the response are the caller's to render.
 */
export function chatCompletions(deps: AppDeps, inflight: Inflight): (state: ProxyState, req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const limit = deps.config.server.maxBodyBytes;
  const streamOpts = streamRelayOptions(deps);
  const tokens = streamTokens(deps.config);
  return async (state, req, res) => {
    const ex = state.ex;
    const { json, raw } = await readJsonObject(req, limit);
    ex.model = requireModel(json);
    validateChatBody(json);
    ex.stream = json.stream === true;
    permit(deps, state, ex.model);
    const route = routeFor(deps, ex.model);
    const admission = await admit(deps, state, route, json);
    const resume = resumeFor(deps, tokens, state, req.headers, json);
    // A detached start hands out the id at once: another instance must find the stream by then.
    if (resume?.detached && !(await resume.log.ready)) throw storeUnavailable(resume);
    const r: RelayRequest = {
      deps, ex, req, res, route, body: json, raw: forwardedBody(raw, json),
      extraHeaders: state.extraHeaders ?? admission?.headers ?? {},
      resume,
      tracker: new UsageTracker(deps.estimator, ex.model, json),
      abort: new Cancel(),
      tap: createUpstreamTap(deps, ex.id),
    };
    // Returned, not awaited, and the arrow is not async: each suspended async function would be
    // ~0.5 KB of heap for as long as the stream is open (bench/heap.ts --snapshot).
    return owned(deps, inflight, state, r, () =>
      ex.stream ? relayChatStream(r, streamOpts) : relayChatJson(r, streamOpts).then(() => ({ reason: 'done' as const, status: ex.status })),
    );
  };
}

/** A detached start whose replay log could not be written (Redis down): nothing was generated. */
function storeUnavailable(resume: ResumeRequest): ServiceUnavailableError {
  resume.log.abandon();
  return new ServiceUnavailableError('The replay store cannot be written now; retry, or start the stream without x-stream-detach.', {
    code: 'stream_store_unavailable',
    headers: { 'retry-after': '1' },
  });
}

/**
 * Which models a pass-through request may reach, by its endpoint's kind (src/config/passthrough.ts
 * `passthroughEndpointSchema`): a key restricted by `models` may not use an endpoint that runs
 * models the proxy cannot see, unless the endpoint allows it; a `body` endpoint checks the model
 * it names.
 */
function permitPassthrough(deps: AppDeps, state: ProxyState, endpoint: PassthroughEndpoint, model: string): void {
  const client = state.client;
  if (!deps.permit || !client) return;
  if (endpoint.model === 'none') return;
  if (endpoint.model === 'elsewhere') {
    // A budgeted key is restricted too: the proxy cannot price what it cannot see.
    if ((client.models !== undefined || client.budget !== undefined) && !endpoint.allowRestrictedKeys) {
      throw new PermissionDeniedError(
        `The API key "${client.name}" is limited to some models and may not use ${endpoint.path}, which can run other models.`,
        { code: 'endpoint_not_allowed' },
      );
    }
    if (model === '') return;
  }
  permit(deps, state, model);
}

/** The handler of one pass-through endpoint: the body goes to the model's upstream as it came. */
function passthrough(deps: AppDeps, inflight: Inflight, endpoint: PassthroughEndpoint): Koa.Middleware<ProxyState> {
  const limit = deps.config.server.maxBodyBytes;
  const relayOpts = streamRelayOptions(deps);
  return async (ctx) => {
    const ex = ctx.state.ex;
    const method = ctx.method;
    refuseResume(ctx.req.headers, endpoint.path);
    let raw: Buffer | undefined;
    let json: Record<string, unknown> = {};
    if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
      const type = ctx.get('content-type');
      if (type === '' || /json/i.test(type)) {
        const parsed = await readJsonObject(ctx.req, limit);
        raw = forwardedBody(parsed.raw, parsed.json);
        json = parsed.json;
      } else {
        raw = await readRawBody(ctx.req, limit);
      }
    }
    ex.model = checkModelName(json.model, { required: false }) ?? '';
    permitPassthrough(deps, ctx.state, endpoint, ex.model);
    // No model (files, audio uploads, GET …): the catch-all route, if one is configured.
    const route = routeFor(deps, ex.model);
    if (ex.model === '') ex.model = '(none)';
    ex.stream = json.stream === true;
    const admission = await admit(deps, ctx.state, route, json);
    const r = {
      deps, ex, req: ctx.req, res: ctx.res, route, body: json, raw,
      // The target passed src/http/target.ts and matched a template: a plain path under /v1.
      path: ctx.url.slice('/v1'.length),
      extraHeaders: admission?.headers ?? {},
      tracker: new UsageTracker(deps.estimator, ex.model, json),
      abort: new Cancel(),
    };
    await owned(deps, inflight, ctx.state, r, () => relayPassthrough(r, relayOpts));
    ctx.respond = false;
  };
}

/** Register the /v1 routes: every one needs a client key (when keys are on). */
export function registerProxyRoutes(table: RouteTable, deps: AppDeps, inflight: Inflight): void {
  const chat = chatCompletions(deps, inflight);
  table.add({
    methods: ['POST'],
    path: '/v1/chat/completions',
    access: 'api',
    handler: async (ctx) => {
      await chat(ctx.state, ctx.req, ctx.res);
      // The relay wrote the response itself (errors before it are the request scope's to render,
      // src/http/request-scope.ts).
      if (ctx.state.handled) ctx.respond = false;
    },
  });

  registerModelRoutes(table, deps);
  registerStreamRoutes(table, deps);

  for (const endpoint of deps.config.passthrough.endpoints) {
    table.add({ methods: endpoint.methods, path: endpoint.path, access: 'api', handler: passthrough(deps, inflight, endpoint) });
  }
}
