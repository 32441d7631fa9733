/**
 * Gemini's `usageMetadata` (API reference, GenerateContentResponse "UsageMetadata") as OpenAI's
 * `usage`. Pure.
 *
 * - `promptTokenCount` already counts cached content ("When cachedContent is set, this is still
 *   the total effective prompt size"), as OpenAI's `prompt_tokens` counts `cached_tokens`.
 * - `candidatesTokenCount` leaves out thoughts (`thoughtsTokenCount`), and `totalTokenCount` is
 *   prompt + candidates + thoughts + tool-use prompt: OpenAI counts reasoning inside
 *   `completion_tokens`, and the tool-use prompt (results of Gemini's own tools, fed back as
 *   input) inside `prompt_tokens`, so OpenAI's total equals Gemini's.
 * - While streaming, every event repeats the counts so far (cumulative, not per event), and some
 *   events carry none: a translator keeps the latest usage this returns, never a sum, and an event
 *   without counts does not erase it.
 */
import { openAIUsage, type OpenAIUsage } from '../chunks.js';

/** OpenAI usage from one `usageMetadata`, or null when it holds no token counts. */
export function usageFrom(meta: unknown): OpenAIUsage | null {
  if (meta === null || typeof meta !== 'object') return null;
  const m = meta as Record<string, unknown>;
  const prompt = count(m.promptTokenCount);
  const candidates = count(m.candidatesTokenCount);
  const thoughts = count(m.thoughtsTokenCount);
  if (prompt === undefined && candidates === undefined && thoughts === undefined) return null;
  const toolUse = count(m.toolUsePromptTokenCount) ?? 0;
  return openAIUsage((prompt ?? 0) + toolUse, (candidates ?? 0) + (thoughts ?? 0), count(m.cachedContentTokenCount), thoughts);
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}
