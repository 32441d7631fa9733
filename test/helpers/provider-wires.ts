/**
 * Provider wire formats for end-to-end tests through the real proxy (test/integration/providers*.test.ts):
 * Anthropic Messages API stream events and Gemini `streamGenerateContent?alt=sse` responses, shaped
 * as the providers document them (the same sequences as test/unit/provider-anthropic.test.ts and
 * test/unit/provider-gemini-stream.test.ts, copied: importing a spec file would register its tests),
 * each with the answer an OpenAI client should rebuild from it; and the caller's side — what an
 * OpenAI SDK stream amounted to, read chunk by chunk the way user code reads it.
 */
import type OpenAI from 'openai';

// ---------------------------------------------------------------------------------------------
// what a caller rebuilds

/** One tool call as an OpenAI client rebuilds it from the deltas. */
export interface RebuiltCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

/** What a streamed answer amounted to, for choice 0. */
export interface Rebuilt {
  content: string;
  reasoning: string;
  toolCalls: RebuiltCall[];
  finish: string | null;
  usage: OpenAI.CompletionUsage | null;
}

/** Everything the SDK handed over, beyond the answer: for checks on the chunks themselves. */
export interface SdkRead extends Rebuilt {
  chunks: OpenAI.ChatCompletionChunk[];
  /** Some chunk carried a `usage` key (even null). */
  sawUsageKey: boolean;
  /** Chunks that carried `role: "assistant"`. */
  roles: number;
  /** Distinct chunk ids, models and created values. */
  ids: Set<string>;
  models: Set<string>;
  created: Set<number>;
  /** The error the iteration threw, if any (the answer so far is kept). */
  error: unknown;
}

/** Read an SDK chat stream to its end (or its error), rebuilding the answer as a client does. */
export async function readSdk(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<SdkRead> {
  const out: SdkRead = {
    content: '',
    reasoning: '',
    toolCalls: [],
    finish: null,
    usage: null,
    chunks: [],
    sawUsageKey: false,
    roles: 0,
    ids: new Set(),
    models: new Set(),
    created: new Set(),
    error: undefined,
  };
  const calls = new Map<number, RebuiltCall>();
  try {
    for await (const chunk of stream) {
      out.chunks.push(chunk);
      out.ids.add(chunk.id);
      out.models.add(chunk.model);
      out.created.add(chunk.created);
      if ('usage' in chunk) out.sawUsageKey = true;
      if (chunk.usage) out.usage = chunk.usage;
      const c = chunk.choices[0];
      if (c === undefined) continue;
      const delta = c.delta as OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string };
      if (delta.role === 'assistant') out.roles++;
      out.content += delta.content ?? '';
      out.reasoning += delta.reasoning_content ?? '';
      for (const t of delta.tool_calls ?? []) {
        let call = calls.get(t.index);
        if (call === undefined) calls.set(t.index, (call = { index: t.index, id: '', name: '', arguments: '' }));
        if (t.id) call.id = t.id;
        if (t.function?.name) call.name += t.function.name;
        call.arguments += t.function?.arguments ?? '';
      }
      if (c.finish_reason) out.finish = c.finish_reason;
    }
  } catch (err) {
    out.error = err;
  }
  out.toolCalls = [...calls.values()].sort((a, b) => a.index - b.index);
  return out;
}

/** The answer part of a read, for a deepEqual against what the provider meant. */
export function answerOf(r: Rebuilt): Rebuilt {
  return { content: r.content, reasoning: r.reasoning, toolCalls: r.toolCalls, finish: r.finish, usage: r.usage };
}

/** OpenAI usage as the proxy reports it. */
export function openaiUsage(prompt: number, completion: number, more: { cached?: number; reasoning?: number } = {}): OpenAI.CompletionUsage {
  const u: OpenAI.CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (more.cached !== undefined) u.prompt_tokens_details = { cached_tokens: more.cached };
  if (more.reasoning !== undefined) u.completion_tokens_details = { reasoning_tokens: more.reasoning };
  return u;
}

// ---------------------------------------------------------------------------------------------
// Anthropic ("Streaming messages" > "Event types")

/** One Anthropic stream event: its name (the `event:` line) and its data. */
export interface AnthropicEvent {
  event: string;
  data: Record<string, unknown>;
}

const aev = (data: Record<string, unknown>): AnthropicEvent => ({ event: data.type as string, data });

export const ANTHROPIC_MODEL = 'claude-sonnet-4-5-20250929';

export const A = {
  start: (usage: Record<string, unknown> = { input_tokens: 25, output_tokens: 1 }, model = ANTHROPIC_MODEL): AnthropicEvent =>
    aev({ type: 'message_start', message: { id: 'msg_01', type: 'message', role: 'assistant', content: [], model, stop_reason: null, stop_sequence: null, usage } }),
  block: (index: number, content_block: Record<string, unknown>): AnthropicEvent => aev({ type: 'content_block_start', index, content_block }),
  delta: (index: number, delta: Record<string, unknown>): AnthropicEvent => aev({ type: 'content_block_delta', index, delta }),
  text: (index: number, text: string): AnthropicEvent => A.delta(index, { type: 'text_delta', text }),
  json: (index: number, partial_json: string): AnthropicEvent => A.delta(index, { type: 'input_json_delta', partial_json }),
  thinking: (index: number, thinking: string): AnthropicEvent => A.delta(index, { type: 'thinking_delta', thinking }),
  stopBlock: (index: number): AnthropicEvent => aev({ type: 'content_block_stop', index }),
  messageDelta: (stop_reason: string | null, usage: Record<string, unknown>): AnthropicEvent =>
    aev({ type: 'message_delta', delta: { stop_reason, stop_sequence: null }, usage }),
  stop: (): AnthropicEvent => aev({ type: 'message_stop' }),
  ping: (): AnthropicEvent => aev({ type: 'ping' }),
  error: (type: string, message: string): AnthropicEvent => aev({ type: 'error', error: { type, message } }),
};

/** The SSE body Anthropic writes for `events`: `event: <name>` and `data: <json>` per event. */
export function anthropicSse(events: readonly AnthropicEvent[], eol = '\n'): string {
  return events.map((e) => `event: ${e.event}${eol}data: ${JSON.stringify(e.data)}${eol}${eol}`).join('');
}

/** A documented sequence and the answer an OpenAI client must rebuild from it. */
export interface AnthropicCase {
  name: string;
  events: AnthropicEvent[];
  want: Rebuilt;
}

export const ANTHROPIC_CASES: AnthropicCase[] = [
  {
    name: 'text with pings',
    events: [A.start(), A.ping(), A.block(0, { type: 'text', text: '' }), A.ping(), A.text(0, 'Hello'), A.text(0, ', wörld 👋 "q" \\ \u2028'), A.stopBlock(0), A.ping(), A.messageDelta('end_turn', { output_tokens: 15 }), A.stop()],
    want: { content: 'Hello, wörld 👋 "q" \\ \u2028', reasoning: '', toolCalls: [], finish: 'stop', usage: openaiUsage(25, 15, { cached: 0 }) },
  },
  {
    name: 'several tool calls interleaved with text',
    events: [
      A.start(), A.block(0, { type: 'text', text: '' }), A.text(0, 'Let me check both.'), A.stopBlock(0),
      A.block(1, { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: {} }), A.json(1, ''), A.json(1, '{"location":'), A.ping(), A.json(1, ' "San Fra'), A.json(1, 'ncisco, CA"}'), A.stopBlock(1),
      A.block(2, { type: 'text', text: '' }), A.text(2, ' And the time:'), A.stopBlock(2),
      A.block(3, { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: {} }), A.json(3, '{"tz":'), A.json(3, '"PST"}'), A.stopBlock(3),
      A.block(4, { type: 'tool_use', id: 'toolu_C', name: 'now', input: {} }), A.json(4, ''), A.stopBlock(4),
      A.messageDelta('tool_use', { output_tokens: 89 }), A.stop(),
    ],
    want: {
      content: 'Let me check both. And the time:',
      reasoning: '',
      finish: 'tool_calls',
      usage: openaiUsage(25, 89, { cached: 0 }),
      toolCalls: [
        { index: 0, id: 'toolu_A', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' },
        { index: 1, id: 'toolu_B', name: 'get_time', arguments: '{"tz":"PST"}' },
        { index: 2, id: 'toolu_C', name: 'now', arguments: '{}' },
      ],
    },
  },
  {
    name: 'thinking, a redacted block, then text',
    events: [
      A.start(), A.block(0, { type: 'thinking', thinking: '', signature: '' }), A.thinking(0, 'Let me think'), A.thinking(0, ' step by step.'),
      A.delta(0, { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' }), A.stopBlock(0),
      A.block(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }), A.stopBlock(1),
      A.block(2, { type: 'text', text: '' }), A.text(2, 'The answer is 42.'), A.stopBlock(2), A.messageDelta('end_turn', { output_tokens: 120 }), A.stop(),
    ],
    want: { content: 'The answer is 42.', reasoning: 'Let me think step by step.', toolCalls: [], finish: 'stop', usage: openaiUsage(25, 120, { cached: 0 }) },
  },
  {
    name: 'usage over several cumulative message_deltas, with cache tokens',
    events: [
      A.start({ input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 1 }),
      A.block(0, { type: 'text', text: '' }), A.text(0, 'ok'), A.stopBlock(0),
      A.messageDelta(null, { output_tokens: 5 }),
      A.messageDelta('max_tokens', { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 40 }),
      A.messageDelta(null, { input_tokens: null, cache_read_input_tokens: null, output_tokens: 40 }), A.stop(),
    ],
    want: { content: 'ok', reasoning: '', toolCalls: [], finish: 'length', usage: openaiUsage(2312, 40, { cached: 2000 }) },
  },
];

// ---------------------------------------------------------------------------------------------
// Gemini ("Generating content", streamGenerateContent with alt=sse: one GenerateContentResponse per event)

export const GEMINI_MODEL_VERSION = 'gemini-2.5-flash';

/** One response with `parts` for candidate 0. */
export function gresp(parts: unknown[], extra: Record<string, unknown> = {}, candidate: Record<string, unknown> = {}): Record<string, unknown> {
  return { candidates: [{ content: { parts, role: 'model' }, ...candidate }], modelVersion: GEMINI_MODEL_VERSION, responseId: 'resp-1', ...extra };
}

/** `usageMetadata` as Gemini sends it (cumulative). */
export function gusage(prompt: number, candidates?: number, more: Record<string, number> = {}): Record<string, unknown> {
  return {
    usageMetadata: { promptTokenCount: prompt, ...(candidates === undefined ? {} : { candidatesTokenCount: candidates }), totalTokenCount: prompt + (candidates ?? 0), ...more },
  };
}

/** The SSE body Gemini writes (`data: <json>` and CRLF line ends, no event names, no [DONE]). */
export function geminiSse(responses: readonly unknown[], eol = '\r\n'): string {
  return responses.map((r) => `data: ${typeof r === 'string' ? r : JSON.stringify(r)}${eol}${eol}`).join('');
}

export interface GeminiCase {
  name: string;
  responses: Record<string, unknown>[];
  want: Rebuilt;
  /** Tool call ids the proxy generates (`call_…`): compared by shape. */
  generatedIds?: number[];
}

export const GENERATED_ID = /^call_[0-9a-f]{24}$/;

export const GEMINI_CASES: GeminiCase[] = [
  {
    name: 'text',
    responses: [gresp([{ text: 'Hel' }], gusage(5)), gresp([{ text: 'lo, ' }, { text: 'wörld 🚀' }]), gresp([{ text: '!' }], gusage(5, 4), { finishReason: 'STOP' })],
    want: { content: 'Hello, wörld 🚀!', reasoning: '', toolCalls: [], finish: 'stop', usage: openaiUsage(5, 4) },
  },
  {
    name: 'thought parts',
    responses: [
      gresp([{ text: 'Weighing ', thought: true }]),
      gresp([{ text: 'the options.', thought: true }, { text: 'It is ' }], gusage(12, 1, { thoughtsTokenCount: 30, cachedContentTokenCount: 8 })),
      gresp([{ text: '42.', thoughtSignature: 'c2ln' }], gusage(12, 3, { thoughtsTokenCount: 30, cachedContentTokenCount: 8 }), { finishReason: 'STOP' }),
    ],
    want: { content: 'It is 42.', reasoning: 'Weighing the options.', toolCalls: [], finish: 'stop', usage: openaiUsage(12, 33, { cached: 8, reasoning: 30 }) },
  },
  {
    name: 'function calls',
    responses: [
      gresp([{ text: 'Checking.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'fc-1' }, thoughtSignature: 'c2ln' }]),
      gresp([{ functionCall: { name: 'get_weather', args: { city: 'Zürich "ZH"' } } }, { functionCall: { name: 'get_time', id: '' } }], gusage(20, 15), { finishReason: 'STOP' }),
    ],
    want: {
      content: 'Checking.',
      reasoning: '',
      finish: 'tool_calls',
      usage: openaiUsage(20, 15),
      toolCalls: [
        { index: 0, id: 'fc-1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { index: 1, id: '<generated>', name: 'get_weather', arguments: '{"city":"Zürich \\"ZH\\""}' },
        { index: 2, id: '<generated>', name: 'get_time', arguments: '{}' },
      ],
    },
    generatedIds: [1, 2],
  },
  {
    name: 'cumulative usage, missing on intermediate chunks, a usage-only last event',
    responses: [
      gresp([{ text: 'a' }], gusage(7, 1)),
      gresp([{ text: 'b' }]),
      gresp([{ text: 'c' }], gusage(7, 3)),
      gresp([{ text: '' }], {}, { finishReason: 'STOP' }),
      { candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, index: 0 }], ...gusage(7, 6, { thoughtsTokenCount: 2, toolUsePromptTokenCount: 3 }) },
    ],
    want: { content: 'abc', reasoning: '', toolCalls: [], finish: 'stop', usage: openaiUsage(10, 8, { reasoning: 2 }) },
  },
];

/** `r` with generated tool call ids replaced by `<generated>` once checked for their shape. */
export function withGeneratedIds(r: Rebuilt): Rebuilt {
  return { ...r, toolCalls: r.toolCalls.map((c) => (GENERATED_ID.test(c.id) ? { ...c, id: '<generated>' } : c)) };
}
