/**
 * What the Anthropic provider does with every OpenAI chat completions parameter (README's table
 * is {@link anthropicParameters}). The request mapping (./request.ts) reads this table:
 *
 * - `mapped`: translated into the Messages API request.
 * - `no-op`: accepted and dropped; it changes nothing a caller can observe in the answer.
 * - `refused`: a 400 `unsupported_parameter` naming it when it is set to anything but one of its
 *   defaults in {@link REFUSED_DEFAULTS} (null always counts as unset).
 *
 * A top-level parameter that is not in this table is refused too (400 `unsupported_parameter`,
 * unless it is null): the Messages API would reject most unknown fields anyway, and a new OpenAI
 * parameter silently dropped would change an answer without anyone noticing. Adding it here is
 * the decision to support it. Pure.
 */
import type { ParameterSupport } from '../types.js';

export const anthropicParameters: Readonly<Record<string, ParameterSupport>> = {
  model: { support: 'mapped', note: "the deployment's model" },
  messages: { support: 'mapped', note: 'system/developer → `system`; tool → `tool_result`' },
  stream: { support: 'mapped', note: 'Messages API streaming events' },
  stream_options: { support: 'no-op', note: 'the relay sends usage when asked' },
  max_tokens: { support: 'mapped', note: '`max_tokens`' },
  max_completion_tokens: { support: 'mapped', note: '`max_tokens` (wins over `max_tokens`)' },
  temperature: { support: 'mapped', note: '0 to 1 only' },
  top_p: { support: 'mapped', note: '`top_p`' },
  stop: { support: 'mapped', note: '`stop_sequences`' },
  tools: { support: 'mapped', note: 'function tools → `input_schema`; `strict` ignored' },
  tool_choice: { support: 'mapped', note: 'auto/required/none/named → auto/any/none/tool' },
  parallel_tool_calls: { support: 'mapped', note: '`false` → `disable_parallel_tool_use`' },
  user: { support: 'mapped', note: '`metadata.user_id`' },
  safety_identifier: { support: 'mapped', note: '`metadata.user_id` (`user` wins)' },
  reasoning_effort: { support: 'mapped', note: '`thinking` budget: low 1024, medium 4096, high 16384' },
  seed: { support: 'no-op', note: 'no sampling seed on Anthropic' },
  store: { support: 'no-op', note: 'OpenAI-side storage' },
  metadata: { support: 'no-op', note: 'OpenAI-side stored-completion tags' },
  service_tier: { support: 'no-op', note: "OpenAI's tiers; the key's own tier applies" },
  prompt_cache_key: { support: 'no-op', note: 'Anthropic caches by `cache_control` only' },
  n: { support: 'refused', note: 'one choice only' },
  logprobs: { support: 'refused', note: 'no log probabilities' },
  top_logprobs: { support: 'refused', note: 'no log probabilities' },
  logit_bias: { support: 'refused', note: 'no token biasing' },
  presence_penalty: { support: 'refused', note: 'no penalties' },
  frequency_penalty: { support: 'refused', note: 'no penalties' },
  response_format: { support: 'refused', note: '`{"type":"text"}` only' },
  verbosity: { support: 'refused', note: '`medium` only' },
  audio: { support: 'refused', note: 'no audio output' },
  modalities: { support: 'refused', note: '`["text"]` only' },
  prediction: { support: 'refused', note: 'no predicted outputs' },
  web_search_options: { support: 'refused', note: 'no web search' },
  functions: { support: 'refused', note: 'legacy; use `tools`' },
  function_call: { support: 'refused', note: 'legacy; use `tool_choice`' },
};

/** The values a refused parameter may still carry: OpenAI's own defaults, which ask for nothing. */
export const REFUSED_DEFAULTS: Readonly<Record<string, readonly unknown[]>> = {
  n: [1],
  logprobs: [false],
  top_logprobs: [0],
  logit_bias: [{}],
  presence_penalty: [0],
  frequency_penalty: [0],
  response_format: [{ type: 'text' }],
  verbosity: ['medium'],
  audio: [],
  modalities: [['text']],
  prediction: [],
  web_search_options: [],
  functions: [],
  function_call: [],
};

/**
 * Extended thinking budgets per `reasoning_effort` (Anthropic docs "Extended thinking":
 * `budget_tokens` is at least 1024). `minimal` is OpenAI's smallest effort, so Anthropic's smallest
 * budget; `none` asks for no thinking at all (no entry).
 */
export const THINKING_BUDGETS: Readonly<Record<string, number>> = { minimal: 1024, low: 1024, medium: 4096, high: 16384 };
export const MIN_THINKING_BUDGET = 1024;
