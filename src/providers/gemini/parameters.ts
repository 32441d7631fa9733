/**
 * What the Gemini adapter does with every OpenAI chat completions parameter (the README's table
 * for this provider), and the values a refused parameter may still take. Anything not listed here
 * is refused as well (src/providers/gemini/request.ts): nothing is dropped silently. Pure.
 */
import type { ParameterSupport } from '../types.js';

/** Every parameter OpenAI's chat completions API documents, and its fate on a Gemini upstream. */
export const PARAMETERS: Readonly<Record<string, ParameterSupport>> = {
  model: { support: 'mapped', note: 'in the path: /models/{model}:generateContent' },
  messages: { support: 'mapped', note: 'contents (user / model turns), systemInstruction' },
  stream: { support: 'mapped', note: ':streamGenerateContent?alt=sse' },
  stream_options: { support: 'mapped', note: 'include_usage: usage chunk from usageMetadata' },
  max_tokens: { support: 'mapped', note: 'generationConfig.maxOutputTokens' },
  max_completion_tokens: { support: 'mapped', note: 'generationConfig.maxOutputTokens (wins over max_tokens)' },
  temperature: { support: 'mapped', note: 'generationConfig.temperature (0..2)' },
  top_p: { support: 'mapped', note: 'generationConfig.topP' },
  stop: { support: 'mapped', note: 'generationConfig.stopSequences' },
  n: { support: 'mapped', note: 'generationConfig.candidateCount' },
  seed: { support: 'mapped', note: 'generationConfig.seed' },
  presence_penalty: { support: 'mapped', note: 'generationConfig.presencePenalty' },
  frequency_penalty: { support: 'mapped', note: 'generationConfig.frequencyPenalty' },
  response_format: { support: 'mapped', note: 'responseMimeType application/json, responseJsonSchema' },
  reasoning_effort: { support: 'mapped', note: 'thinkingConfig.thinkingBudget, thoughts as reasoning_content' },
  tools: { support: 'mapped', note: 'functionDeclarations with parametersJsonSchema' },
  tool_choice: { support: 'mapped', note: 'toolConfig.functionCallingConfig mode' },
  parallel_tool_calls: { support: 'refused', note: 'true is a no-op; false refused (cannot be enforced)' },
  user: { support: 'no-op', note: 'Gemini has no end-user field' },
  store: { support: 'no-op', note: 'OpenAI-side storage' },
  metadata: { support: 'no-op', note: 'OpenAI-side storage tags' },
  service_tier: { support: 'no-op', note: 'OpenAI processing tiers' },
  prompt_cache_key: { support: 'no-op', note: 'Gemini caches implicitly' },
  prompt_cache_retention: { support: 'no-op', note: 'Gemini caches implicitly' },
  safety_identifier: { support: 'no-op', note: 'Gemini has no end-user field' },
  logprobs: { support: 'refused', note: 'false only' },
  top_logprobs: { support: 'refused', note: '0 only' },
  logit_bias: { support: 'refused', note: 'empty only' },
  audio: { support: 'refused', note: 'no audio output' },
  modalities: { support: 'refused', note: '["text"] only' },
  prediction: { support: 'refused', note: 'no predicted outputs' },
  web_search_options: { support: 'refused', note: 'no OpenAI-shaped web search' },
  verbosity: { support: 'refused', note: '"medium" only' },
  functions: { support: 'refused', note: 'legacy; use tools' },
  function_call: { support: 'refused', note: 'legacy; use tool_choice' },
};

/**
 * The values a `refused` parameter may still take because they ask for OpenAI's default
 * behaviour, which Gemini has anyway (null and absent are always accepted).
 */
export const REFUSED_DEFAULTS: Readonly<Record<string, readonly unknown[]>> = {
  parallel_tool_calls: [true],
  logprobs: [false],
  top_logprobs: [0],
  logit_bias: [{}],
  audio: [],
  modalities: [['text']],
  prediction: [],
  web_search_options: [],
  verbosity: ['medium'],
  functions: [[]],
  function_call: ['none'],
};
