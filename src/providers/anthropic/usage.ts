/**
 * Anthropic's token counts as OpenAI's `usage`. Pure.
 *
 * Anthropic docs "Prompt caching" > "Tracking cache performance": `input_tokens` counts only the
 * input after the last cache breakpoint; `cache_read_input_tokens` and
 * `cache_creation_input_tokens` are the rest of the prompt. OpenAI's `prompt_tokens` counts every
 * input token (its `cached_tokens` being part of it), so it is the sum of the three, and
 * `cached_tokens` is what was read from the cache. Thinking tokens are inside Anthropic's
 * `output_tokens`, which it does not break down, so no `reasoning_tokens` is reported.
 *
 * "Streaming messages": `message_start` carries the usage so far, and every `message_delta`'s usage
 * is cumulative (a later one may repeat the input and cache fields, or leave them out). So each
 * field keeps the latest value reported and nothing is ever added up: summing is how gateways came
 * to count input and cache tokens twice.
 */
import { openAIUsage, type OpenAIUsage } from '../chunks.js';

/** The four counts, each the latest reported (undefined until one is). */
export interface AnthropicCounts {
  input_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  output_tokens?: number;
}

const FIELDS = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const;

/** The latest value of each count; reports that leave a field out or null keep the earlier value. */
export class LatestUsage {
  private readonly counts: AnthropicCounts = {};
  private seen = false;

  /** One `usage` object from `message_start.message` or a `message_delta`. */
  update(usage: unknown): void {
    if (typeof usage !== 'object' || usage === null) return;
    const u = usage as Record<string, unknown>;
    for (const f of FIELDS) {
      const v = u[f];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
        this.counts[f] = v;
        this.seen = true;
      }
    }
  }

  /** Whether any count was reported. */
  get reported(): boolean {
    return this.seen;
  }

  /** OpenAI's usage from the counts so far. */
  toOpenAI(): OpenAIUsage {
    return toOpenAIUsage(this.counts);
  }
}

/** OpenAI's usage from Anthropic's counts (missing ones are 0). */
export function toOpenAIUsage(c: AnthropicCounts): OpenAIUsage {
  const cacheRead = c.cache_read_input_tokens ?? 0;
  const prompt = (c.input_tokens ?? 0) + cacheRead + (c.cache_creation_input_tokens ?? 0);
  return openAIUsage(prompt, c.output_tokens ?? 0, cacheRead);
}

/** A whole message's `usage` object as OpenAI's usage. */
export function usageOf(usage: unknown): OpenAIUsage {
  const latest = new LatestUsage();
  latest.update(usage);
  return latest.toOpenAI();
}
