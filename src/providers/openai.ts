/**
 * The OpenAI wire format: the identity. Requests go as the caller sent them (the relay splices in
 * the usage request and the deployment's model name itself, src/relay/chat.ts), and answers are
 * relayed as they come, so the stream keeps the byte fast path (docs/ARCHITECTURE.md
 * "Performance rules"). Pure.
 */
import type { ChatProvider } from './types.js';

export const openaiProvider: ChatProvider = {
  name: 'openai',
  chatRequest(body, target) {
    return { path: '/chat/completions', body: JSON.stringify({ ...body, model: target.model }) };
  },
  authHeaders(apiKey) {
    return { authorization: `Bearer ${apiKey}` };
  },
  streamTranslator() {
    return null;
  },
  chatResponse() {
    return null;
  },
  errorFrom() {
    return null;
  },
  modelsPath: '/models',
  parseModels(body) {
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) return [];
    return data.flatMap((m: unknown) => {
      const id = (m as { id?: unknown } | null)?.id;
      return typeof id === 'string' ? [id] : [];
    });
  },
  // Every parameter is the upstream's own: nothing is mapped, refused or dropped.
  parameters: {},
};
