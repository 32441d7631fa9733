/**
 * The model lists of the Anthropic and Gemini faces of the simulator, in each API's shape and
 * with each API's paging (`models.ts` is the OpenAI face's). As on the OpenAI face, any model
 * name is accepted by the generation endpoints; the lists are what a caller discovers.
 *
 * - Anthropic `GET …/v1/models?limit&after_id&before_id` → `{data:[{type:'model', id,
 *   display_name, created_at}], has_more, first_id, last_id}`; `GET …/v1/models/{id}`.
 * - Gemini `GET …/models?pageSize&pageToken` → `{models:[{name:'models/…', …}], nextPageToken?}`;
 *   `GET …/models/{id}`.
 */
import { anthropicError, geminiError, json, type SimJsonReply } from './reply.js';

/** The models the Anthropic face lists. */
export const ANTHROPIC_SIM_MODELS = ['sim-claude-1', 'sim-claude-fast'] as const;
/** The models the Gemini face lists. */
export const GEMINI_SIM_MODELS = ['sim-gemini-1', 'sim-gemini-fast'] as const;

const CREATED_AT = '2025-01-01T00:00:00Z';

function displayName(id: string): string {
  return id
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function anthropicModel(id: string): Record<string, unknown> {
  return { type: 'model', id, display_name: displayName(id), created_at: CREATED_AT };
}

/** Anthropic's model list: `limit` (1–1000, default 20), `after_id` / `before_id` paging. */
export function listAnthropicModels(query: URLSearchParams): SimJsonReply {
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return anthropicError(400, 'limit: Input should be greater than or equal to 1 and less than or equal to 1000');
  }
  let ids: string[] = [...ANTHROPIC_SIM_MODELS];
  const after = query.get('after_id');
  const before = query.get('before_id');
  if (after !== null) ids = ids.slice(ids.indexOf(after) + 1);
  else if (before !== null) ids = ids.slice(0, Math.max(0, ids.indexOf(before)));
  const page = before !== null && after === null ? ids.slice(-limit) : ids.slice(0, limit);
  return json(200, {
    data: page.map(anthropicModel),
    has_more: page.length < ids.length,
    first_id: page[0] ?? null,
    last_id: page.at(-1) ?? null,
  });
}

/** One Anthropic model, or 404 `not_found_error`. */
export function getAnthropicModel(segment: string): SimJsonReply {
  const id = decode(segment);
  if ((ANTHROPIC_SIM_MODELS as readonly string[]).includes(id)) return json(200, anthropicModel(id));
  return anthropicError(404, `model: ${id}`, 'not_found_error');
}

function geminiModel(id: string): Record<string, unknown> {
  return {
    name: 'models/' + id,
    version: '001',
    displayName: displayName(id),
    description: 'The built-in simulator speaking the Gemini API.',
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: ['generateContent', 'streamGenerateContent'],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: true,
  };
}

/** Gemini's model list: `pageSize` (default 50, at most 1000), `pageToken` from `nextPageToken`. */
export function listGeminiModels(query: URLSearchParams): SimJsonReply {
  const rawSize = query.get('pageSize');
  const size = rawSize === null ? 50 : Math.min(1000, Number(rawSize));
  if (!Number.isInteger(size) || size < 0) return geminiError(400, `Invalid value at 'page_size' (TYPE_INT32), "${rawSize}"`);
  const start = Number(query.get('pageToken') ?? '0');
  if (!Number.isInteger(start) || start < 0) return geminiError(400, 'Invalid page token.');
  const end = start + (size === 0 ? 50 : size);
  const body: Record<string, unknown> = { models: GEMINI_SIM_MODELS.slice(start, end).map(geminiModel) };
  if (end < GEMINI_SIM_MODELS.length) body.nextPageToken = String(end);
  return json(200, body);
}

/** One Gemini model (`models/{id}`), or 404 NOT_FOUND. */
export function getGeminiModel(segment: string): SimJsonReply {
  const id = decode(segment);
  if ((GEMINI_SIM_MODELS as readonly string[]).includes(id)) return json(200, geminiModel(id));
  return geminiError(404, `models/${id} is not found for API version v1beta, or is not supported for generateContent.`);
}
