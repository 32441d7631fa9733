/**
 * OpenAI `chat.completion.chunk` payloads, built for a translator (src/relay/stages.ts): one
 * stable `id`, `created` and `model` for the whole answer, the assistant role on the first chunk
 * of each choice, and the final usage chunk (`choices: []`) as `stream_options.include_usage`
 * gives it. Pure.
 */
import type { AnswerContext } from './types.js';

/** OpenAI's `finish_reason` values. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** OpenAI's `usage` object, as a translator reports it (every count the latest the provider gave, never summed). */
export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
}

/** A usage object from counts: `prompt` counts every input token (cached ones too), `completion` every output token (reasoning too). */
export function openAIUsage(prompt: number, completion: number, cached?: number, reasoning?: number): OpenAIUsage {
  const u: OpenAIUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cached !== undefined) u.prompt_tokens_details = { cached_tokens: cached };
  if (reasoning !== undefined) u.completion_tokens_details = { reasoning_tokens: reasoning };
  return u;
}

/** What a chunk's `delta` may hold. */
export interface ChunkDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: ToolCallDelta[];
  refusal?: string;
}

/** One tool call's part in a chunk: `id`, `type` and the name on its first, arguments as they stream. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

/**
 * Builds the chunks of one answer. Written from a template rather than `JSON.stringify` of an
 * object per chunk: the head (`id` … `"index":`) is made once per answer, and a plain content
 * delta — nearly every chunk — is its text's JSON string between fixed pieces. The bytes are
 * exactly `JSON.stringify`'s of the same object, in OpenAI's key order, so the relay's content
 * scanner (src/usage/scan.ts) reads them without a parse (bench/translate.bench.ts: the object
 * and its `JSON.stringify` were the largest cost of a translated stream).
 */
export class ChunkBuilder {
  /** The model reported on every chunk: the provider's own name for it once known, else the context's. */
  private model_: string | null = null;
  /** Choices whose first chunk (with the role) went out. */
  private readonly started = new Set<number>();
  /** `{"id":…,"choices":[{"index":` for this answer, made with the first chunk (the model is fixed by then). */
  private head_: string | null = null;

  constructor(private readonly ctx: AnswerContext) {}

  /** Fix the reported model (the provider's answer names it); the first call wins, so every chunk says the same. */
  setModel(model: string | undefined): void {
    if (this.model_ === null && this.started.size === 0 && typeof model === 'string' && model !== '') this.model_ = model;
  }

  get model(): string {
    return this.model_ ?? this.ctx.model;
  }

  /** Whether choice `index` has had its first chunk. */
  hasStarted(index = 0): boolean {
    return this.started.has(index);
  }

  /** A chunk with `delta` for choice `index`; the first of a choice carries `role: "assistant"`. */
  delta(delta: ChunkDelta, index = 0): string {
    const first = this.first(index);
    const c = delta.content;
    // A plain text delta: the one string to encode is the text.
    if (c !== undefined && delta.reasoning_content === undefined && delta.tool_calls === undefined && delta.refusal === undefined && delta.role === undefined) {
      return `${this.head()}${index}${first ? ROLE_CONTENT : CONTENT}${JSON.stringify(c)}${NOT_FINISHED}`;
    }
    return `${this.head()}${index},"delta":${JSON.stringify(first ? { role: 'assistant', ...delta } : delta)}${OPEN_CHOICE_END}`;
  }

  /** The chunk that ends choice `index`: an empty delta (the role if it is the first) and the finish reason. */
  finish(reason: FinishReason, index = 0): string {
    const delta = this.first(index) ? '{"role":"assistant"}' : '{}';
    return `${this.head()}${index},"delta":${delta},"logprobs":null,"finish_reason":"${reason}"}]}`;
  }

  /** The usage chunk: no choices. */
  usage(usage: OpenAIUsage): string {
    return JSON.stringify({ id: this.ctx.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.model, choices: [], usage });
  }

  /** Whether this is choice `index`'s first chunk (it carries the role); marks it started. */
  private first(index: number): boolean {
    if (this.started.has(index)) return false;
    this.started.add(index);
    return true;
  }

  private head(): string {
    return (this.head_ ??= `{"id":${JSON.stringify(this.ctx.id)},"object":"chat.completion.chunk","created":${this.ctx.created},"model":${JSON.stringify(this.model)},"choices":[{"index":`);
  }
}

const CONTENT = ',"delta":{"content":';
const ROLE_CONTENT = ',"delta":{"role":"assistant","content":';
/** After a delta: the choice closes, no finish yet. */
const OPEN_CHOICE_END = ',"logprobs":null,"finish_reason":null}]}';
/** After a delta's text: the delta closes, then the choice. */
const NOT_FINISHED = `}${OPEN_CHOICE_END}`;
