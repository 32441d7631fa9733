/**
 * The simulator speaking Anthropic's Messages API, under `/anthropic`:
 * - `POST /anthropic/v1/messages`: a message of simulated text, thinking and tool use, streamed
 *   (`anthropic-stream.ts`) or whole; errors in Anthropic's shape (`reply.ts` anthropicError).
 * - `POST /anthropic/v1/messages/count_tokens`: `{input_tokens}`.
 * - `GET /anthropic/v1/models`, `GET /anthropic/v1/models/{id}` (`provider-models.ts`).
 *
 * Semantics (the OpenAI face's, adapted to a required `max_tokens`):
 * - The answer's natural length is `defaultMaxTokens` tokens. `max_tokens` caps thinking and text
 *   together: text gets `min(natural, max_tokens - thinking)` tokens, and `stop_reason` is
 *   `max_tokens` when that cap is at most the natural length (the limit is what ended it),
 *   `end_turn` otherwise; `stop_sequence` when one of `stop_sequences` cut the text; `tool_use`
 *   when it calls tools (calls are always whole, whatever `max_tokens`).
 * - `thinking: {type:'enabled', budget_tokens}` (≥ 1024 and < max_tokens, as the real API
 *   checks) → a thinking block of `min(budget_tokens, natural)` tokens first; `{type:'adaptive'}`
 *   → `natural` (within max_tokens); `disabled` / absent → none.
 * - Tools: the rule of `tools.ts`; `tool_choice` `{type:'auto'|'any'|'tool'|'none'}`,
 *   `disable_parallel_tool_use`. Server tools (a `type` other than `custom`) are accepted, never called.
 * - The API has no seed: the text is `simText(n)`.
 * - `input_tokens`: ceil(characters / 4) of system, messages (text, tool inputs and results) and
 *   the tool definitions; `output_tokens`: thinking + text tokens + one per tool-input piece.
 * - Fields the real API does not know are rejected (`x: Extra inputs are not permitted`), so a
 *   translator that leaks an OpenAI field (`n`, `seed`, `stream_options` …) is caught.
 */
import { anthropicFrames, hasTextBlock, type AnthropicAnswer } from './anthropic-stream.js';
import { outputTokens, planChoice, thinkingSignature, thinkingText } from './choice.js';
import { timingFor, totalDelay } from './generation.js';
import type { SimOptions } from './options.js';
import { getAnthropicModel, listAnthropicModels } from './provider-models.js';
import { anthropicError, json, nextId, streamHeaders, type SimJsonReply, type SimReply } from './reply.js';
import { estimateTokens, isObj, MAX_COMPLETION_TOKENS, textChars, type Json } from './request.js';
import { planString } from './text-plan.js';
import { contentText, pickTools, type SimTool, type ToolMode } from './tools.js';

const FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'metadata', 'stop_sequences', 'stream', 'temperature', 'top_p', 'top_k',
  'tools', 'tool_choice', 'thinking', 'service_tier', 'container', 'mcp_servers', 'context_management', 'output_config',
  'output_format', 'inference_geo',
]);
const MIN_THINKING_BUDGET = 1024;

const bad = (message: string): SimJsonReply => anthropicError(400, message);

function readTools(body: Json): { tools: SimTool[]; mode: ToolMode; parallel: boolean } | SimJsonReply {
  const raw = body.tools ?? [];
  if (!Array.isArray(raw)) return bad('tools: Input should be a valid list');
  const tools: SimTool[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i];
    if (!isObj(t) || typeof t.name !== 'string' || t.name === '') return bad(`tools.${i}.name: Field required`);
    if (t.type !== undefined && t.type !== null && t.type !== 'custom') continue; // a server tool
    if (!isObj(t.input_schema)) return bad(`tools.${i}.custom.input_schema: Field required`);
    tools.push({ name: t.name, schema: t.input_schema });
  }
  const tc = body.tool_choice;
  if (tc === undefined || tc === null) return { tools, mode: { kind: 'auto' }, parallel: true };
  if (!isObj(tc)) return bad('tool_choice: Input should be a valid dictionary or object');
  const parallel = tc.disable_parallel_tool_use !== true;
  switch (tc.type) {
    case 'auto':
      return { tools, mode: { kind: 'auto' }, parallel };
    case 'any':
      return { tools, mode: { kind: 'required' }, parallel };
    case 'none':
      return { tools, mode: { kind: 'none' }, parallel };
    case 'tool':
      if (typeof tc.name !== 'string') return bad('tool_choice.tool.name: Field required');
      if (!tools.some((t) => t.name === tc.name)) return bad(`tool_choice.tool.name: Tool '${tc.name}' not found in tools`);
      return { tools, mode: { kind: 'named', name: tc.name }, parallel };
    default:
      return bad(`tool_choice: Input tag '${String(tc.type)}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
  }
}

/** Thinking tokens for `thinking` (see the module comment), or the 400. */
function readThinking(body: Json, maxTokens: number, natural: number): number | SimJsonReply {
  const th = body.thinking;
  if (th === undefined || th === null) return 0;
  if (!isObj(th)) return bad('thinking: Input should be a valid dictionary or object');
  if (th.type === 'disabled') return 0;
  if (th.type === 'adaptive') return Math.min(natural, maxTokens - 1);
  if (th.type !== 'enabled') {
    return bad(`thinking: Input tag '${String(th.type)}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'`);
  }
  const b = th.budget_tokens;
  if (typeof b !== 'number' || !Number.isInteger(b)) return bad('thinking.enabled.budget_tokens: Field required');
  if (b < MIN_THINKING_BUDGET) return bad(`thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`);
  if (b >= maxTokens) return bad('`max_tokens` must be greater than `thinking.budget_tokens`.');
  return Math.min(b, natural);
}

function inputChars(body: Json, messages: readonly unknown[]): number {
  let chars = textChars(body.system);
  for (const m of messages) {
    if (!isObj(m)) continue;
    chars += textChars(m.content);
    if (Array.isArray(m.content)) for (const b of m.content) if (isObj(b) && b.type === 'tool_use') chars += JSON.stringify(b.input ?? {}).length;
  }
  if (Array.isArray(body.tools)) chars += JSON.stringify(body.tools).length;
  return chars;
}

function readMessages(body: Json): unknown[] | SimJsonReply {
  const messages = body.messages;
  if (messages === undefined || messages === null) return bad('messages: Field required');
  if (!Array.isArray(messages)) return bad('messages: Input should be a valid list');
  if (messages.length === 0) return bad('messages: at least one message is required');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant')) return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) return bad(`messages.${i}.content: Field required`);
  }
  return messages;
}

/** Read a Messages request into the planned answer, or the 400 to send. */
function readAnswer(body: Json, opts: SimOptions): AnthropicAnswer | SimJsonReply {
  for (const k of Object.keys(body)) if (!FIELDS.has(k)) return bad(`${k}: Extra inputs are not permitted`);
  const model = body.model;
  if (typeof model !== 'string' || model === '') return bad('model: Field required');
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined || maxTokens === null) return bad('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) return bad('max_tokens: Input should be a valid integer');
  if (maxTokens < 1 || maxTokens > MAX_COMPLETION_TOKENS) return bad(`max_tokens: Input should be between 1 and ${MAX_COMPLETION_TOKENS}`);
  const messages = readMessages(body);
  if (!Array.isArray(messages)) return messages;
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return bad('stream: Input should be a valid boolean');
  const stops = body.stop_sequences ?? [];
  if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string')) return bad('stop_sequences: Input should be a valid list of strings');
  const natural = Math.max(0, Math.floor(opts.defaultMaxTokens));
  const thinking = readThinking(body, maxTokens, natural);
  if (typeof thinking !== 'number') return thinking;
  const rt = readTools(body);
  if ('kind' in rt) return rt;
  if (thinking > 0 && (rt.mode.kind === 'required' || rt.mode.kind === 'named')) return bad('Thinking may not be enabled when tool_choice forces tool use.');
  const last = messages[messages.length - 1] as Json;
  const afterToolResult = last.role === 'user' && Array.isArray(last.content) && last.content.some((b) => isObj(b) && b.type === 'tool_result');
  const call = pickTools(rt.tools, rt.mode, {
    lastUserText: last.role === 'user' ? contentText(last.content) : '',
    afterToolResult,
    parallel: rt.parallel,
  });
  const room = maxTokens - thinking;
  const plan = planChoice(0, { seed: undefined, n: Math.min(natural, room), stops: stops as string[], thinking, tools: call });
  let stop: AnthropicAnswer['stopReason'] = room <= natural ? 'max_tokens' : 'end_turn';
  if (plan.calls.length > 0) stop = 'tool_use';
  else if (plan.text.cut !== null) stop = 'stop_sequence';
  return {
    id: 'msg_' + nextId(),
    model,
    inputTokens: estimateTokens(inputChars(body, messages)),
    timing: timingFor(model, opts),
    plan,
    stopReason: stop,
    stopSequence: stop === 'stop_sequence' ? plan.text.cut!.seq : null,
    toolIds: plan.calls.map(() => 'toolu_' + nextId()),
  };
}

function messageObject(a: AnthropicAnswer): Json {
  const p = a.plan;
  const content: Json[] = [];
  if (p.thinking > 0) {
    const thinking = thinkingText(p);
    content.push({ type: 'thinking', thinking, signature: thinkingSignature(thinking) });
  }
  if (hasTextBlock(a)) content.push({ type: 'text', text: planString(p.text) });
  p.calls.forEach((c, j) => content.push({ type: 'tool_use', id: a.toolIds[j], name: c.name, input: c.args }));
  return {
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content,
    stop_reason: a.stopReason,
    stop_sequence: a.stopSequence,
    usage: { input_tokens: a.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens(p), service_tier: 'standard' },
  };
}

function parseBody(bodyText: string): { body: Json } | { error: SimJsonReply } {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { error: bad('There was an issue with your request body: it is not valid JSON.') };
  }
  return isObj(body) ? { body } : { error: bad('The request body must be a JSON object.') };
}

const MODEL_PATH = /^\/v1\/models\/([^/]+)$/;

/** Answer a request whose path is `/anthropic` + `rest`. */
export function anthropicRoute(method: string, rest: string, bodyText: string, opts: SimOptions, query: URLSearchParams): SimReply {
  if (method === 'GET') {
    if (rest === '/v1/models') return listAnthropicModels(query);
    const mm = MODEL_PATH.exec(rest);
    if (mm) return getAnthropicModel(mm[1]!);
  } else if (method === 'POST' && (rest === '/v1/messages' || rest === '/v1/messages/count_tokens')) {
    const parsed = parseBody(bodyText);
    if ('error' in parsed) return parsed.error;
    const body = parsed.body;
    if (rest.endsWith('/count_tokens')) {
      const messages = readMessages(body);
      return Array.isArray(messages) ? json(200, { input_tokens: estimateTokens(inputChars(body, messages)) }) : messages;
    }
    const a = readAnswer(body, opts);
    if ('kind' in a) return a;
    if (body.stream === true) return { kind: 'stream', status: 200, headers: { ...streamHeaders(), 'request-id': 'req_' + nextId() }, frames: anthropicFrames(a) };
    // As long as the stream: one step per token delta (thinking, text, tool-input piece).
    return json(200, messageObject(a), totalDelay(a.timing, outputTokens(a.plan)));
  }
  return anthropicError(404, 'Not Found', 'not_found_error');
}
