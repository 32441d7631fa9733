/**
 * POST /v1/chat/completions without Koa. It runs the same per-request wrapper as the Koa routes
 * ({@link RequestScope}: request id and exchange, active count, target check, the API gate,
 * errors rendered once) and the same handler ({@link chatCompletions}), with none of Koa's
 * per-request objects: its context, request and response, a suspended async function and a bound
 * `next` per middleware, which a heap snapshot showed live for as long as a stream is open
 * (`bench/heap.ts --snapshot`), and ~12 µs of CPU per request (`bench/profile.ts --scenario json`).
 * test/integration/chat-lane.test.ts holds both paths to the same answers and records.
 *
 * Requests the lane does not take (other routes, other methods) go to Koa; so do chat completions
 * of an app with extra middleware declared `chat: true` (src/app.ts `AppExtensions.middleware`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Inflight } from '../shutdown.js';
import { chatCompletions } from './proxy-routes.js';
import type { RequestScope, RequestScopes } from './request-scope.js';

const PATH = '/v1/chat/completions';

/** The lane: returns false for a request it does not take. */
export function chatLane(scopes: RequestScopes, inflight: Inflight): (req: IncomingMessage, res: ServerResponse) => boolean {
  const handle = chatCompletions(scopes.deps, inflight);
  // The route's access is `api` (src/http/proxy-routes.ts): the gate, then the handler. One
  // function for every request (run passes the scope, req and res): no closure per request.
  const step = (scope: RequestScope, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    scope.gateApi();
    return handle(scope, req, res);
  };
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (url !== PATH && !(url.startsWith(PATH) && url.charCodeAt(PATH.length) === 0x3f /* ? */)) return false;
    const scope = scopes.open(req, res, PATH);
    void scope.run(step);
    return true;
  };
}
