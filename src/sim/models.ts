/**
 * `GET …/models` and `GET …/models/{id}`: the simulator lists `sim-1` and `sim-fast` (any model
 * name is still accepted by the other endpoints; the proxy may map aliases).
 */
import { json, simError, type SimJsonReply } from './reply.js';

/** The models the simulator lists. */
export const SIM_MODELS = ['sim-1', 'sim-fast'] as const;
const MODEL_CREATED = 1_700_000_000;
const OWNER = 'llm-proxy-sim';

function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: OWNER };
}

/** The model list. */
export function listModels(): SimJsonReply {
  return json(200, { object: 'list', data: SIM_MODELS.map(modelObject) });
}

/** One model by its (still URL-encoded) path segment, or 404 `model_not_found`. */
export function getModel(segment: string): SimJsonReply {
  let id = segment;
  try {
    id = decodeURIComponent(id);
  } catch {
    // keep it raw
  }
  if ((SIM_MODELS as readonly string[]).includes(id)) return json(200, modelObject(id));
  return simError(404, `The model '${id}' does not exist`, 'model', 'model_not_found');
}
