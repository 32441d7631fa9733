/**
 * The Gemini API (`https://generativelanguage.googleapis.com/v1beta`) as a provider: requests
 * (request.ts), streamed answers (stream.ts), whole answers and the model list (response.ts),
 * errors (errors.ts), usage (usage.ts), the parameters table (parameters.ts). Pure.
 */
import type { ChatProvider } from '../types.js';
import { errorFrom } from './errors.js';
import { PARAMETERS } from './parameters.js';
import { chatRequest } from './request.js';
import { chatResponse, parseModels } from './response.js';
import { GeminiStreamTranslator } from './stream.js';

export const geminiProvider: ChatProvider = {
  name: 'gemini',
  chatRequest,
  // The API key as a header ("API keys"), not the `key=` query parameter, which would put it in URLs and logs.
  authHeaders: (apiKey) => ({ 'x-goog-api-key': apiKey }),
  streamTranslator: (ctx) => new GeminiStreamTranslator(ctx),
  chatResponse,
  errorFrom,
  // 1000 is the largest page `models.list` serves; one page holds every Gemini model today.
  modelsPath: '/models?pageSize=1000',
  parseModels,
  parameters: PARAMETERS,
};
