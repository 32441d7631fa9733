/**
 * Reading the OpenAI chat completions fields beyond the text ones: `tools` / `tool_choice` /
 * `parallel_tool_calls` (into the format-neutral {@link SimTool}s and {@link ToolMode} of
 * `tools.ts`), `n` and `stop`, with OpenAI's 400s for what the real API rejects.
 */
import { simError, type SimJsonReply } from './reply.js';
import { isObj, type Json } from './request.js';
import { contentText, type SimTool, type ToolContext, type ToolMode } from './tools.js';

/** The upper bound OpenAI puts on `n`. */
export const MAX_CHOICES = 128;

export interface ChatTools {
  tools: SimTool[];
  mode: ToolMode;
  parallel: boolean;
}

function functionName(v: unknown): string | undefined {
  if (!isObj(v) || v.type !== 'function' || !isObj(v.function)) return undefined;
  const name = v.function.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** `tools`, `tool_choice` and `parallel_tool_calls`, or the 400 to answer with. */
export function readChatTools(body: Json): ChatTools | SimJsonReply {
  const raw = body.tools;
  const choice = body.tool_choice;
  const parallel = body.parallel_tool_calls !== false;
  if (raw === undefined || raw === null) {
    if (choice !== undefined && choice !== null) {
      return simError(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice', null);
    }
    return { tools: [], mode: { kind: 'none' }, parallel };
  }
  if (!Array.isArray(raw)) return simError(400, "Invalid type for 'tools': expected an array of tools.", 'tools', 'invalid_type');
  if (raw.length === 0) return simError(400, "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tools', 'empty_array');
  const tools: SimTool[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i];
    // Custom (free-form) tools are accepted and never called: the simulator only fills schemas.
    if (isObj(t) && t.type === 'custom') continue;
    const name = functionName(t);
    if (name === undefined) {
      return simError(400, `Invalid 'tools[${i}]': expected {"type": "function", "function": {"name": ..., "parameters": ...}}.`, `tools[${i}]`, 'invalid_value');
    }
    const fn = (t as { function: Json }).function;
    tools.push({ name, schema: fn.parameters ?? { type: 'object', properties: {} } });
  }
  const mode = readToolChoice(choice, tools);
  if (mode.kind === 'json') return mode;
  return { tools, mode, parallel };
}

function readToolChoice(choice: unknown, tools: readonly SimTool[]): ToolMode | SimJsonReply {
  if (choice === undefined || choice === null || choice === 'auto') return { kind: 'auto' };
  if (choice === 'none') return { kind: 'none' };
  if (choice === 'required') return { kind: 'required' };
  const bad = (why: string): SimJsonReply => simError(400, `Invalid value for 'tool_choice': ${why}`, 'tool_choice', 'invalid_value');
  const known = (name: string): boolean => tools.some((t) => t.name === name);
  const named = functionName(choice);
  if (named !== undefined) return known(named) ? { kind: 'named', name: named } : bad(`function '${named}' is not among the 'tools'.`);
  if (isObj(choice) && choice.type === 'allowed_tools' && isObj(choice.allowed_tools)) {
    const at = choice.allowed_tools;
    const names = Array.isArray(at.tools) ? at.tools.map(functionName) : [];
    if ((at.mode !== 'auto' && at.mode !== 'required') || names.length === 0 || names.some((n) => n === undefined || !known(n))) {
      return bad("expected allowed_tools {mode: 'auto' | 'required', tools: [function tools among 'tools']}.");
    }
    return { kind: at.mode, allowed: names as string[] };
  }
  return bad("expected 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.");
}

/** `n`: an integer in [1, 128] (default 1). */
export function readChoiceCount(body: Json): number | SimJsonReply {
  const n = body.n;
  if (n === undefined || n === null) return 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES) {
    return simError(400, `Invalid 'n': expected an integer between 1 and ${MAX_CHOICES}, got ${JSON.stringify(n)}.`, 'n', 'invalid_value');
  }
  return n;
}

/** `stop`: a string or up to 4 strings (default none). */
export function readStop(body: Json): string[] | SimJsonReply {
  const s = body.stop;
  if (s === undefined || s === null) return [];
  if (typeof s === 'string') return [s];
  if (Array.isArray(s) && s.length <= 4 && s.every((x) => typeof x === 'string')) return s as string[];
  return simError(400, "Invalid 'stop': expected a string or an array of at most 4 strings.", 'stop', 'invalid_value');
}

/** What the tool rule needs from chat `messages`. */
export function chatToolContext(messages: readonly unknown[], parallel: boolean): ToolContext {
  const last = messages[messages.length - 1];
  const role = isObj(last) ? last.role : undefined;
  return {
    lastUserText: role === 'user' && isObj(last) ? contentText(last.content) : '',
    afterToolResult: role === 'tool' || role === 'function',
    parallel,
  };
}
