/**
 * An OpenAI chat completions body as an Anthropic Messages API request (`POST /v1/messages`).
 * Every parameter is handled as ./parameters.ts says; anything this mapping cannot honour is a 400
 * naming the parameter (`messages[3].content`, `temperature`), never a silent drop.
 *
 * Messages (Anthropic docs "Messages API", "Vision", "Tool use"): system and developer messages
 * become the top-level `system` text blocks, in order, wherever they stand (empty ones are left
 * out: Anthropic rejects empty text blocks). User content is text and images (`data:` base64 URLs
 * as `base64` sources, http(s) URLs as `url` sources; OpenAI's `detail` has no counterpart and is
 * ignored). Assistant messages are text and `tool_use` blocks; tool messages `tool_result` blocks
 * in a user message. Consecutive messages of one role are merged, because the Messages API wants
 * user and assistant turns to alternate; in a merged user message the `tool_result` blocks come
 * first, as "Tool use" requires of the message answering a `tool_use`. A message's `name` has no
 * Anthropic counterpart and is not sent. Pure.
 */
import { InvalidRequestError } from '../../errors.js';
import { contentParts, dataUrl, textOnly, toolArguments } from '../content.js';
import type { ChatBody, ProviderRequest, ProviderTarget } from '../types.js';
import { anthropicParameters, MIN_THINKING_BUDGET, REFUSED_DEFAULTS, THINKING_BUDGETS } from './parameters.js';
import { checkParameters } from '../parameter-check.js';

/** The Messages API path, below the upstream's base URL (`https://api.anthropic.com`). */
export const MESSAGES_PATH = '/v1/messages';

type TextBlock = { type: 'text'; text: string };
type ImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
type ImageBlock = { type: 'image'; source: ImageSource };
type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };
type ToolResultBlock = { type: 'tool_result'; tool_use_id: string; content?: string };
/** A content block of a request message. */
export type RequestBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock;

/** One Messages API message. */
export interface AnthropicMessage { role: 'user' | 'assistant'; content: RequestBlock[] }

const PROVIDER = 'Anthropic';

function invalid(param: string, message: string, code = 'invalid_value'): InvalidRequestError {
  return new InvalidRequestError(message, { param, code });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The caller's body as a Messages API request for `target`. */
export function chatRequest(body: ChatBody, target: ProviderTarget): ProviderRequest {
  checkParameters(body, anthropicParameters, REFUSED_DEFAULTS, PROVIDER);
  const { system, messages } = mapMessages(body.messages);
  const out: Record<string, unknown> = { model: target.model };
  if (system.length > 0) out.system = system;
  out.messages = messages;
  const max = maxTokens(body);
  const thinking = thinkingBudget(body, max);
  out.max_tokens = max?.value ?? defaultMax(target.defaultMaxTokens, thinking);
  if (thinking !== null) out.thinking = { type: 'enabled', budget_tokens: thinking };
  const temperature = sampling(body, 'temperature', 1, 2);
  const topP = sampling(body, 'top_p', 1, 1);
  if (thinking !== null) {
    // "Extended thinking" > "Feature compatibility": thinking does not work with a changed
    // temperature, and only with top_p between 0.95 and 1.
    if (temperature !== undefined && temperature !== 1) throw invalid('temperature', 'temperature cannot be set with reasoning_effort on Anthropic upstreams (extended thinking needs the default temperature).', 'unsupported_value');
    if (topP !== undefined && topP < 0.95) throw invalid('top_p', 'top_p must be between 0.95 and 1 with reasoning_effort on Anthropic upstreams.', 'unsupported_value');
  }
  if (temperature !== undefined) out.temperature = temperature;
  if (topP !== undefined) out.top_p = topP;
  const stop = stopSequences(body.stop);
  if (stop.length > 0) out.stop_sequences = stop;
  const tools = mapTools(body.tools);
  if (tools.length > 0) out.tools = tools;
  const choice = toolChoice(body, tools.length > 0, thinking !== null);
  if (choice !== undefined) out.tool_choice = choice;
  const userId = userIdOf(body);
  if (userId !== undefined) out.metadata = { user_id: userId };
  if (target.stream) out.stream = true;
  return { path: MESSAGES_PATH, body: JSON.stringify(out) };
}

/** The `system` blocks and the alternating user/assistant messages. */
export function mapMessages(raw: unknown): { system: TextBlock[]; messages: AnthropicMessage[] } {
  if (!Array.isArray(raw) || raw.length === 0) throw invalid('messages', 'messages must be a non-empty array.');
  const system: TextBlock[] = [];
  const messages: AnthropicMessage[] = [];
  raw.forEach((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw invalid(at, `${at} must be an object.`);
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOnly(m.content, `${at}.content`);
        if (text !== '') system.push({ type: 'text', text });
        break;
      }
      case 'user':
        append(messages, 'user', userBlocks(m.content, `${at}.content`));
        break;
      case 'assistant':
        append(messages, 'assistant', assistantBlocks(m, at));
        break;
      case 'tool':
        append(messages, 'user', [toolResult(m, at)]);
        break;
      default:
        throw invalid(`${at}.role`, `${at}.role must be one of system, developer, user, assistant or tool.`, 'unsupported_value');
    }
  });
  if (messages.length === 0) throw invalid('messages', 'messages must contain a user or assistant message, not only system or developer ones.');
  for (const m of messages) if (m.role === 'user') toolResultsFirst(m.content);
  return { system, messages };
}

function append(messages: AnthropicMessage[], role: AnthropicMessage['role'], blocks: RequestBlock[]): void {
  const last = messages[messages.length - 1];
  if (last !== undefined && last.role === role) last.content.push(...blocks);
  else messages.push({ role, content: blocks });
}

/** Stable partition: `tool_result` blocks before the rest ("Tool use": results come first). */
function toolResultsFirst(blocks: RequestBlock[]): void {
  const results = blocks.filter((b) => b.type === 'tool_result');
  if (results.length === 0 || results.length === blocks.length) return;
  const rest = blocks.filter((b) => b.type !== 'tool_result');
  blocks.splice(0, blocks.length, ...results, ...rest);
}

function userBlocks(content: unknown, param: string): RequestBlock[] {
  const blocks: RequestBlock[] = [];
  contentParts(content, param).forEach((p, j) => {
    if (p.type === 'text') {
      if (p.text !== '') blocks.push({ type: 'text', text: p.text });
    } else {
      blocks.push(imageBlock(p.url, `${param}[${j}].image_url.url`));
    }
  });
  if (blocks.length === 0) throw invalid(param, `${param} must not be empty.`);
  return blocks;
}

function imageBlock(url: string, param: string): ImageBlock {
  const d = dataUrl(url);
  if (d !== null) return { type: 'image', source: { type: 'base64', media_type: d.mediaType, data: d.data } };
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalid(param, `${param} must be an http(s) URL or a base64 data: URL.`);
}

function assistantBlocks(m: Record<string, unknown>, at: string): RequestBlock[] {
  const blocks: RequestBlock[] = [];
  const text = textOnly(m.content, `${at}.content`);
  if (text !== '') blocks.push({ type: 'text', text });
  const calls = m.tool_calls;
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) throw invalid(`${at}.tool_calls`, `${at}.tool_calls must be an array.`);
    calls.forEach((c: unknown, j) => blocks.push(toolUse(c, `${at}.tool_calls[${j}]`)));
  }
  if (blocks.length === 0) throw invalid(`${at}.content`, `${at} must have content or tool_calls.`);
  return blocks;
}

function toolUse(c: unknown, at: string): ToolUseBlock {
  if (!isObject(c)) throw invalid(at, `${at} must be an object.`);
  if (c.type !== undefined && c.type !== 'function') throw invalid(`${at}.type`, `${at}.type must be "function".`, 'unsupported_value');
  if (typeof c.id !== 'string' || c.id === '') throw invalid(`${at}.id`, `${at}.id must be a non-empty string.`);
  const fn = c.function;
  if (!isObject(fn) || typeof fn.name !== 'string' || fn.name === '') throw invalid(`${at}.function.name`, `${at}.function.name must be a non-empty string.`);
  return { type: 'tool_use', id: c.id, name: fn.name, input: toolArguments(fn.arguments, `${at}.function.arguments`) };
}

function toolResult(m: Record<string, unknown>, at: string): ToolResultBlock {
  if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw invalid(`${at}.tool_call_id`, `${at}.tool_call_id must be a non-empty string.`);
  const text = textOnly(m.content, `${at}.content`);
  return text === '' ? { type: 'tool_result', tool_use_id: m.tool_call_id } : { type: 'tool_result', tool_use_id: m.tool_call_id, content: text };
}

/** The caller's output limit: `max_completion_tokens` (OpenAI's current name) before `max_tokens`. */
function maxTokens(body: ChatBody): { value: number; param: string } | null {
  for (const param of ['max_completion_tokens', 'max_tokens']) {
    const v = body[param];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid(param, `${param} must be a positive integer.`);
    return { value: v, param };
  }
  return null;
}

/**
 * The thinking budget `reasoning_effort` asks for, or null. "Extended thinking" requires
 * `max_tokens` above `budget_tokens`; OpenAI counts reasoning inside the caller's limit too, so a
 * caller's limit that is not above the budget shrinks it to half the limit (never below Anthropic's
 * minimum of 1024; a limit that leaves no room for that is a 400 naming the limit).
 */
function thinkingBudget(body: ChatBody, max: { value: number; param: string } | null): number | null {
  const effort = body.reasoning_effort;
  if (effort === undefined || effort === null || effort === 'none') return null;
  if (typeof effort !== 'string' || !Object.hasOwn(THINKING_BUDGETS, effort)) {
    throw invalid('reasoning_effort', 'reasoning_effort must be one of none, minimal, low, medium or high.');
  }
  let budget = THINKING_BUDGETS[effort]!;
  if (max !== null && max.value <= budget) {
    budget = Math.max(MIN_THINKING_BUDGET, Math.floor(max.value / 2));
    if (max.value <= budget) {
      throw invalid(max.param, `${max.param} must be greater than ${MIN_THINKING_BUDGET} with reasoning_effort on Anthropic upstreams (the smallest thinking budget).`);
    }
  }
  return budget;
}

/** The upstream's default limit, raised above the thinking budget when it is not above it. */
function defaultMax(defaultMaxTokens: number, thinking: number | null): number {
  if (thinking === null || defaultMaxTokens > thinking) return defaultMaxTokens;
  return thinking + defaultMaxTokens;
}

/** A sampling number: 0 to `max` (Anthropic's range), 400 beyond it; up to `openAIMax` it is a value Anthropic does not take. */
function sampling(body: ChatBody, param: string, max: number, openAIMax: number): number | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > openAIMax) throw invalid(param, `${param} must be a number from 0 to ${openAIMax}.`);
  if (v > max) throw invalid(param, `${param} above ${max} is not supported by ${PROVIDER} upstreams (they accept 0 to ${max}).`, 'unsupported_value');
  return v;
}

function stopSequences(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalid('stop', 'stop must be a string or an array of strings.');
  return (v as string[]).filter((s) => s !== '');
}

/** Function tools as Anthropic client tools ("Tool use": `name`, `description`, `input_schema`). */
function mapTools(v: unknown): Record<string, unknown>[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid('tools', 'tools must be an array.');
  return v.map((t: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) throw invalid(at, `${at} must be an object.`);
    if (t.type !== 'function') throw invalid(`${at}.type`, `${at}.type must be "function" on ${PROVIDER} upstreams.`, 'unsupported_value');
    const fn = t.function;
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name === '') throw invalid(`${at}.function.name`, `${at}.function.name must be a non-empty string.`);
    const tool: Record<string, unknown> = { name: fn.name };
    if (fn.description !== undefined && fn.description !== null) {
      if (typeof fn.description !== 'string') throw invalid(`${at}.function.description`, `${at}.function.description must be a string.`);
      tool.description = fn.description;
    }
    tool.input_schema = inputSchema(fn.parameters, `${at}.function.parameters`);
    return tool;
  });
}

/** `input_schema` must be an object schema; OpenAI lets `parameters` be left out (no arguments). */
function inputSchema(v: unknown, param: string): Record<string, unknown> {
  if (v === undefined || v === null) return { type: 'object', properties: {} };
  if (!isObject(v)) throw invalid(param, `${param} must be a JSON Schema object.`);
  return v.type === undefined ? { type: 'object', ...v } : v;
}

/** `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`. */
function toolChoice(body: ChatBody, hasTools: boolean, thinking: boolean): Record<string, unknown> | undefined {
  const v = body.tool_choice;
  let choice: Record<string, unknown> | undefined;
  if (v === 'auto') choice = { type: 'auto' };
  else if (v === 'required') choice = { type: 'any' };
  else if (v === 'none') choice = { type: 'none' };
  else if (isObject(v) && v.type === 'function' && isObject(v.function) && typeof v.function.name === 'string' && v.function.name !== '') {
    choice = { type: 'tool', name: v.function.name };
  } else if (v !== undefined && v !== null) {
    throw invalid('tool_choice', 'tool_choice must be "auto", "required", "none" or {"type":"function","function":{"name":…}}.');
  }
  const parallel = body.parallel_tool_calls;
  if (parallel !== undefined && parallel !== null && typeof parallel !== 'boolean') throw invalid('parallel_tool_calls', 'parallel_tool_calls must be a boolean.');
  if (!hasTools) {
    // Without tools, "auto" and "none" ask for what happens anyway; a forced call cannot be met.
    if (choice !== undefined && choice.type !== 'auto' && choice.type !== 'none') throw invalid('tool_choice', 'tool_choice requires tools.');
    return undefined;
  }
  // "Extended thinking" > "Extended thinking with tool use": only auto and none tool choices.
  if (thinking && choice !== undefined && (choice.type === 'any' || choice.type === 'tool')) {
    throw invalid('tool_choice', 'A forced tool_choice cannot be combined with reasoning_effort on Anthropic upstreams.', 'unsupported_value');
  }
  if (parallel === false) {
    choice ??= { type: 'auto' };
    if (choice.type !== 'none') choice.disable_parallel_tool_use = true;
  }
  return choice;
}

/** `user` (or the newer `safety_identifier`) as `metadata.user_id`. */
function userIdOf(body: ChatBody): string | undefined {
  for (const param of ['user', 'safety_identifier']) {
    const v = body[param];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw invalid(param, `${param} must be a string.`);
    if (v !== '') return v;
  }
  return undefined;
}
