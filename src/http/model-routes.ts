/**
 * GET /v1/models and GET /v1/models/{id}: the models a caller can actually use. Exact route names,
 * and for glob routes the models their upstreams report (src/upstream/model-catalog.ts), each only
 * if the first route that matches it is that glob's (src/upstream/router.ts `listModels`), and only
 * those the calling key's `models` globs allow. One model is answered from the same list, so the
 * two never disagree; a model the list does not name is 404 `model_not_found`, as OpenAI answers.
 */
import type { AppDeps } from '../deps.js';
import { NotFoundError } from '../errors.js';
import type { RouteTable } from './route-table.js';
import type { ProxyState } from './request-context.js';
import { checkModelName } from './body.js';

/** What the model objects say of themselves. */
const OWNER = 'llm-proxy';

/** The model ids `state`'s key may use, in route order. */
async function usableModels(deps: AppDeps, state: ProxyState): Promise<string[]> {
  const reported = await deps.models.lists(deps.router.globUpstreams());
  const ids = deps.router.listModels(reported);
  const client = state.client;
  const allows = deps.allows;
  if (allows === null || client === undefined) return ids;
  return ids.filter((id) => allows(client, id));
}

export function registerModelRoutes(table: RouteTable, deps: AppDeps): void {
  const created = (): number => Math.floor(deps.clock.now() / 1000);
  table.add({
    methods: ['GET'],
    path: '/v1/models',
    access: 'api',
    handler: async (ctx) => {
      const at = created();
      ctx.body = { object: 'list', data: (await usableModels(deps, ctx.state)).map((id) => ({ id, object: 'model', created: at, owned_by: OWNER })) };
    },
  });
  table.add({
    methods: ['GET'],
    path: '/v1/models/:id',
    access: 'api',
    handler: async (ctx) => {
      // Decoded by the router; a name with a `/` (`org/model`) arrives as one segment only when
      // its slash is encoded, which the path rules refuse (test/security/paths.test.ts).
      const id = String(ctx.params.id ?? '');
      checkModelName(id, { required: true });
      if (!(await usableModels(deps, ctx.state)).includes(id)) {
        throw new NotFoundError(`The model \`${id}\` does not exist or you do not have access to it.`, { param: 'model', code: 'model_not_found' });
      }
      ctx.body = { id, object: 'model', created: created(), owned_by: OWNER };
    },
  });
}
