/**
 * A whole (non-streamed) Anthropic message as an OpenAI `chat.completion`. Anthropic docs
 * "Messages API" > response `content`: text blocks are the answer (joined as they come: Anthropic
 * splits text around citations), thinking blocks its reasoning (`reasoning_content`, as the stream
 * gives it), `tool_use` blocks its tool calls; `redacted_thinking` and server tool blocks have
 * nothing an OpenAI caller can read and are dropped. `content` is null when the answer is only tool
 * calls, as OpenAI answers. The same stop reason and usage rules as the stream (./stream.ts,
 * ./usage.ts), so both paths report one answer alike. Pure.
 */
import { UpstreamError } from '../../errors.js';
import type { AnswerContext } from '../types.js';
import { finishReason } from './stream.js';
import { usageOf } from './usage.js';

/** An OpenAI tool call of a whole message. */
interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** An Anthropic message body (`{"type":"message","content":[…],…}`) as a `chat.completion`. */
export function chatResponse(body: unknown, ctx: AnswerContext): Record<string, unknown> {
  const m = body as { type?: unknown; model?: unknown; content?: unknown; stop_reason?: unknown; usage?: unknown } | null;
  if (typeof m !== 'object' || m === null || !Array.isArray(m.content)) {
    throw new UpstreamError('The Anthropic upstream answered something that is not a message.', { code: 'upstream_bad_response' });
  }
  let content = '';
  let reasoning: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const b of m.content as unknown[]) {
    const block = b as { type?: unknown; text?: unknown; thinking?: unknown; id?: unknown; name?: unknown; input?: unknown } | null;
    if (typeof block !== 'object' || block === null) continue;
    if (block.type === 'text' && typeof block.text === 'string') content += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning = (reasoning ?? '') + block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: typeof block.id === 'string' ? block.id : '',
        type: 'function',
        function: { name: typeof block.name === 'string' ? block.name : '', arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: content === '' && toolCalls.length > 0 ? null : content,
    refusal: null,
  };
  if (reasoning !== null) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: typeof m.model === 'string' && m.model !== '' ? m.model : ctx.model,
    choices: [{ index: 0, message, finish_reason: finishReason(m.stop_reason), logprobs: null }],
    usage: usageOf(m.usage),
  };
}
