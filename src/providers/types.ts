/**
 * What a provider is: how an OpenAI chat completions request becomes one provider's request, how
 * its answer (a stream of its events, or one JSON body) becomes OpenAI's, and how its errors and
 * model list read. One folder per provider under src/providers/<name>/, registered in
 * src/providers/registry.ts; the OpenAI path is a provider like the others (the identity).
 * Pure: a provider imports only pure modules (docs/ARCHITECTURE.md "Layers").
 */
import type { Translator } from '../relay/stages.js';

/** The wire formats the proxy speaks to upstreams. */
export type ProviderName = 'openai' | 'anthropic' | 'gemini';

/** An OpenAI chat completions request body as the caller sent it (an object with a `model`). */
export type ChatBody = Record<string, unknown>;

/** Where one request goes, as far as a provider needs to know. */
export interface ProviderTarget {
  /** The model name sent to the provider: the deployment's `model`, or the caller's. */
  model: string;
  /** `stream: true` was asked. */
  stream: boolean;
  /** The upstream's default output limit, for a provider that requires one when the caller set none (Anthropic). */
  defaultMaxTokens: number;
}

/** The provider request for one attempt: below the upstream's base URL. */
export interface ProviderRequest {
  /** Path below the upstream's `baseUrl`, with query (`/v1/messages`, `/models/x:streamGenerateContent?alt=sse`). */
  path: string;
  /** The JSON body. */
  body: string;
}

/** What the OpenAI objects built from a provider's answer say about themselves. */
export interface AnswerContext {
  /** The `id` of every chunk (or of the completion): `chatcmpl-…`, stable for the whole answer. */
  id: string;
  /** Unix seconds, the same on every chunk. */
  created: number;
  /** The model name to report when the provider's answer names none. */
  model: string;
}

/** A provider's error answer, as the caller gets it in OpenAI's shape. */
export interface MappedError {
  /** The status the caller gets (e.g. Anthropic's 529 overloaded → 503). */
  status: number;
  message: string;
  /** OpenAI's error `type` (`invalid_request_error`, `rate_limit_error`, `server_error` …). */
  type: string;
  code: string | null;
  param: string | null;
  /** When to retry, from the body (Gemini's `RetryInfo.retryDelay`): sent as `Retry-After` when the upstream's head had none. */
  retryAfterSeconds?: number;
}

/** One provider's wire format. */
export interface ChatProvider {
  readonly name: ProviderName;
  /**
   * The caller's body as this provider's request. Throws an `InvalidRequestError` (src/errors.ts)
   * naming the parameter for anything it cannot honour; never drops one silently, except those its
   * `parameters` table documents as `no-op`.
   */
  chatRequest(body: ChatBody, target: ProviderTarget): ProviderRequest;
  /** The headers that authenticate and version a request (`x-api-key` and `anthropic-version`, `x-goog-api-key`, …). */
  authHeaders(apiKey: string): Record<string, string>;
  /**
   * A translator for one streamed answer (src/relay/stages.ts), or null when the provider already
   * speaks OpenAI's chunks (the OpenAI path keeps the byte fast path). A translator always emits
   * the final usage chunk (`choices: []`) when the provider reported usage: the relay's observer
   * hides it from a caller who did not ask, as on the OpenAI path.
   */
  streamTranslator(ctx: AnswerContext): Translator | null;
  /** A whole (non-streamed) answer as a `chat.completion` object, or null when it is OpenAI's already. */
  chatResponse(body: unknown, ctx: AnswerContext): Record<string, unknown> | null;
  /** A non-2xx answer's parsed body (null when it was not JSON) as OpenAI's error; null to use the generic rule. */
  errorFrom(status: number, body: unknown): MappedError | null;
  /** Path of the provider's model list, below its `baseUrl`. */
  readonly modelsPath: string;
  /** The model ids in the provider's model-list answer. */
  parseModels(body: unknown): string[];
  /** Every OpenAI chat parameter and what this provider does with it (README's table is this). */
  readonly parameters: Readonly<Record<string, ParameterSupport>>;
}

/** What a provider does with one OpenAI parameter. */
export interface ParameterSupport {
  /** `mapped`: honoured; `no-op`: accepted and documented as having no effect; `refused`: 400 when set to anything but its default. */
  support: 'mapped' | 'no-op' | 'refused';
  /** How, in a few words (the README table's cell). */
  note: string;
}
