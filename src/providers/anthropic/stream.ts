/**
 * An Anthropic Messages stream as OpenAI `chat.completion.chunk`s (the relay's translate stage,
 * src/relay/stages.ts). Anthropic docs "Streaming messages" > "Event types": `message_start`, then
 * per content block `content_block_start`, `content_block_delta`s and `content_block_stop`, then
 * `message_delta`s (stop reason, cumulative usage) and `message_stop`; `ping`s anywhere; an `error`
 * event may replace the rest ("Error events", e.g. `overloaded_error`). Events are read by the
 * `type` inside their data (the `event:` name says the same; it is the fallback).
 *
 * - Nothing is sent at `message_start`: the first chunk (with the role) goes out with the first
 *   content, tool call or finish, so an error right after `message_start` leaves the caller with
 *   nothing and the relay free to try another upstream.
 * - `text_delta` → `content`; `thinking_delta` → `reasoning_content` (never mixed into `content`);
 *   `signature_delta` and `citations_delta` are dropped (they verify or annotate, the text is
 *   already sent); `redacted_thinking` blocks are dropped ("Extended thinking" > "Thinking
 *   redaction": encrypted, nothing a caller can read); server tool blocks are dropped.
 * - `tool_use` blocks → `tool_calls`, numbered 0, 1, 2… among tool calls only (Anthropic's block
 *   `index` counts text and thinking blocks too, which OpenAI's clients would read as missing
 *   calls): the id and name on the first, then each `input_json_delta.partial_json` as it comes.
 *   A tool called without arguments streams only an empty `partial_json`; its call gets `{}`
 *   (what the non-streamed answer says), since OpenAI clients parse the joined arguments and
 *   `JSON.parse('')` throws.
 * - `message_stop` sends the one finish chunk, then the usage chunk (./usage.ts: latest counts,
 *   never summed), then completes. A body that ends without `message_stop` was cut: nothing is
 *   completed, and the relay reports the truncation.
 * - `ping`, unknown events and data that is not JSON are ignored (Anthropic "Versioning": new event
 *   types may be added).
 * State is a few counters and the open blocks (one at a time in practice): nothing grows per token.
 * Pure.
 */
import type { TranslateOut, Translator } from '../../relay/stages.js';
import type { SseEvent } from '../../sse/parser.js';
import { ChunkBuilder, type FinishReason } from '../chunks.js';
import type { AnswerContext } from '../types.js';
import { streamError } from './errors.js';
import { LatestUsage } from './usage.js';
import { closingQuote, stringValue } from '../../usage/scan.js';

/** Anthropic's `stop_reason` as OpenAI's `finish_reason` ("Handling stop reasons"); unknown ones end normally. */
export function finishReason(stop: unknown): FinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn (a server tool paused the turn: the answer so far is whole)
      return 'stop';
  }
}

const DELTA_HEAD = '{"type":"content_block_delta","index":';
const TEXT_HEAD = ',"delta":{"type":"text_delta","text":"';

/** A content block being streamed: what its deltas become. */
type OpenBlock = { kind: 'text' } | { kind: 'thinking' } | { kind: 'tool'; call: number; args: boolean };

type Json = Record<string, unknown>;

function object(v: unknown): Json | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Translates one Anthropic stream; one per upstream body. */
export class AnthropicStreamTranslator implements Translator {
  private readonly chunks: ChunkBuilder;
  private readonly usage = new LatestUsage();
  /** Blocks started and not yet stopped, by Anthropic's block index. */
  private readonly open = new Map<number, OpenBlock>();
  /** Tool calls started so far: the next one's OpenAI index. */
  private calls = 0;
  private finish: FinishReason = 'stop';
  /** `message_stop` or an error was handled: nothing more is sent. */
  private done = false;

  constructor(ctx: AnswerContext) {
    this.chunks = new ChunkBuilder(ctx);
  }

  event(e: SseEvent, out: TranslateOut): void {
    if (this.done) return;
    // Nearly every event is a text delta: read it without a parse when it has the documented layout.
    if (e.event === 'content_block_delta' && this.textDelta(e.data, out)) return;
    let msg: Json | null = null;
    try {
      msg = object(JSON.parse(e.data));
    } catch {
      /* not JSON (a stray `[DONE]`): nothing Anthropic defines, unless named an error below */
    }
    const type = typeof msg?.type === 'string' ? msg.type : e.event;
    if (type === 'error' || e.event === 'error') {
      this.done = true;
      out.fail(streamError(e.data));
      return;
    }
    if (msg === null) return;
    switch (type) {
      case 'message_start': {
        const m = object(msg.message);
        this.chunks.setModel(typeof m?.model === 'string' ? m.model : undefined);
        this.usage.update(m?.usage);
        return;
      }
      case 'content_block_start':
        return this.blockStart(msg, out);
      case 'content_block_delta':
        return this.blockDelta(msg, out);
      case 'content_block_stop':
        return this.blockStop(msg.index, out);
      case 'message_delta': {
        const stop = object(msg.delta)?.stop_reason;
        if (stop !== undefined && stop !== null) this.finish = finishReason(stop);
        this.usage.update(msg.usage);
        return;
      }
      case 'message_stop':
        return this.stop(out);
      default:
        // ping, and event types added after this was written
        return;
    }
  }

  /**
   * A `text_delta` in the layout the Messages API sends ("Streaming messages" > "Text delta":
   * `{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}`), for an
   * open text block: its text relayed without `JSON.parse` (a parse per event was the adapter's
   * largest cost: bench/translate.bench.ts). Returns false for anything else, which takes the
   * parse; test/unit/provider-anthropic-property.test.ts holds both paths to the same output.
   */
  private textDelta(data: string, out: TranslateOut): boolean {
    if (!data.startsWith(DELTA_HEAD)) return false;
    let i = DELTA_HEAD.length;
    let index = 0;
    for (; i < data.length && i < DELTA_HEAD.length + 6; i++) {
      const c = data.charCodeAt(i);
      if (c < 48 || c > 57) break;
      index = index * 10 + c - 48;
    }
    if (i === DELTA_HEAD.length || !data.startsWith(TEXT_HEAD, i)) return false;
    const v = i + TEXT_HEAD.length;
    const j = closingQuote(data, v);
    if (j !== data.length - 3 || data.charCodeAt(j + 1) !== 125 || data.charCodeAt(j + 2) !== 125) return false;
    if (this.open.get(index)?.kind !== 'text') return false;
    const t = stringValue(data, v, j);
    if (t === null) return false;
    this.content(t, out);
    return true;
  }

  /** The body ended. Without `message_stop` it was cut: not completed, so the relay reports it. */
  end(): void {}

  private blockStart(msg: Json, out: TranslateOut): void {
    const block = object(msg.content_block);
    if (typeof msg.index !== 'number' || block === null) return;
    switch (block.type) {
      case 'text':
        this.open.set(msg.index, { kind: 'text' });
        return this.content(text(block.text), out);
      case 'thinking':
        this.open.set(msg.index, { kind: 'thinking' });
        return this.reasoning(text(block.thinking), out);
      case 'tool_use': {
        const call = this.calls++;
        this.open.set(msg.index, { kind: 'tool', call, args: false });
        out.data(this.chunks.delta({ tool_calls: [{ index: call, id: text(block.id), type: 'function', function: { name: text(block.name), arguments: '' } }] }));
        return;
      }
      default:
        // redacted_thinking, server_tool_use, web_search_tool_result …: nothing for an OpenAI caller
        return;
    }
  }

  private blockDelta(msg: Json, out: TranslateOut): void {
    const delta = object(msg.delta);
    const block = typeof msg.index === 'number' ? this.open.get(msg.index) : undefined;
    if (delta === null || block === undefined) return;
    if (delta.type === 'text_delta' && block.kind === 'text') this.content(text(delta.text), out);
    else if (delta.type === 'thinking_delta' && block.kind === 'thinking') this.reasoning(text(delta.thinking), out);
    else if (delta.type === 'input_json_delta' && block.kind === 'tool') this.arguments(block, text(delta.partial_json), out);
    // signature_delta, citations_delta and unknown deltas are dropped
  }

  private blockStop(index: unknown, out: TranslateOut): void {
    if (typeof index !== 'number') return;
    const block = this.open.get(index);
    if (block === undefined) return;
    this.open.delete(index);
    if (block.kind === 'tool' && !block.args) this.arguments(block, '{}', out);
  }

  private stop(out: TranslateOut): void {
    this.done = true;
    for (const block of this.open.values()) if (block.kind === 'tool' && !block.args) this.arguments(block, '{}', out);
    this.open.clear();
    out.data(this.chunks.finish(this.finish));
    if (this.usage.reported) out.data(this.chunks.usage(this.usage.toOpenAI()));
    out.complete();
  }

  private content(s: string, out: TranslateOut): void {
    if (s === '') return;
    // After the first chunk (which carries the role), a plain text delta: the observer is told its text.
    const plain = this.chunks.hasStarted(0);
    out.data(this.chunks.delta({ content: s }), plain ? s : undefined);
  }

  private reasoning(s: string, out: TranslateOut): void {
    if (s !== '') out.data(this.chunks.delta({ reasoning_content: s }));
  }

  private arguments(block: { call: number; args: boolean }, s: string, out: TranslateOut): void {
    if (s === '') return;
    block.args = true;
    out.data(this.chunks.delta({ tool_calls: [{ index: block.call, function: { arguments: s } }] }));
  }
}
