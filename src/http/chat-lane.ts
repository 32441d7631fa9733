/**
 * POST /v1/chat/completions without Koa (issue 6: "Koa middleware on the hot path"). It does what
 * the Koa chain does for that route (request id and exchange, the draining check, the API key,
 * the handler, errors in OpenAI's shape) with none of the chain's per-request objects: Koa's
 * context, request and response, a suspended async function and a bound `next` per middleware,
 * which a heap snapshot showed live for as long as a stream is open (`bench/heap.ts --snapshot`),
 * and ~12 µs of CPU per request (`bench/profile.ts --scenario json`).
 *
 * The same gate (`gateApi`), handler ({@link chatCompletions}) and error rendering (`failed`) serve
 * both paths; requests the lane does not take (other routes, other methods, an app with extra Koa
 * middleware) go to Koa.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppDeps } from '../deps.js';
import type { Inflight } from '../shutdown.js';
import { chatCompletions } from './proxy-routes.js';
import { exchangeFor, failed, failedLate, gateApi, type Authenticate, type ProxyState } from './request-context.js';
import { writeRendered } from '../util/write-error.js';

const PATH = '/v1/chat/completions';

/** The lane: returns false for a request it does not take. */
export function chatLane(deps: AppDeps, inflight: Inflight, authenticate: Authenticate | null): (req: IncomingMessage, res: ServerResponse) => boolean {
  const handle = chatCompletions(deps, inflight);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (url !== PATH && !(url.startsWith(PATH) && url.charCodeAt(PATH.length) === 0x3f /* ? */)) return false;
    void run(deps, handle, authenticate, req, res);
    return true;
  };
}

async function run(
  deps: AppDeps,
  handle: ReturnType<typeof chatCompletions>,
  authenticate: Authenticate | null,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const given = req.headers['x-request-id'];
  const ex = exchangeFor(deps, 'POST', PATH, typeof given === 'string' ? given : undefined);
  const state: ProxyState = { ex };
  res.setHeader('x-request-id', ex.id);
  deps.state.activeRequests++;
  try {
    gateApi(deps, authenticate, state, req);
    await handle(state, req, res);
  } catch (err) {
    if (state.handled || res.headersSent) {
      failedLate(deps, ex, err, res.statusCode);
    } else {
      writeRendered(res, failed(deps, ex, err, req), state.extraHeaders);
    }
  } finally {
    deps.state.activeRequests--;
  }
}
