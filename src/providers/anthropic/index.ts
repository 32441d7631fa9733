/**
 * The Anthropic Messages API as a provider (src/providers/types.ts): requests (./request.ts),
 * streamed answers (./stream.ts), whole answers (./response.ts), errors (./errors.ts), the model
 * list, and what each OpenAI parameter becomes (./parameters.ts). Pure.
 */
import type { ChatProvider } from '../types.js';
import { errorFrom } from './errors.js';
import { anthropicParameters } from './parameters.js';
import { chatRequest } from './request.js';
import { chatResponse } from './response.js';
import { AnthropicStreamTranslator } from './stream.js';

/**
 * Anthropic docs "Versioning": every request names an API version. A caller's own
 * `anthropic-version` (and `anthropic-beta`) headers are forwarded elsewhere and win over this.
 */
export const ANTHROPIC_VERSION = '2023-06-01';

export const anthropicProvider: ChatProvider = {
  name: 'anthropic',
  chatRequest,
  authHeaders(apiKey) {
    return { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION };
  },
  streamTranslator(ctx) {
    return new AnthropicStreamTranslator(ctx);
  },
  chatResponse,
  errorFrom,
  // "Models" > "List Models": paginated, 20 by default and at most 1000 a page.
  modelsPath: '/v1/models?limit=1000',
  parseModels(body) {
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) return [];
    return data.flatMap((m: unknown) => {
      const id = (m as { id?: unknown } | null)?.id;
      return typeof id === 'string' && id !== '' ? [id] : [];
    });
  },
  parameters: anthropicParameters,
};
