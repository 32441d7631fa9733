/**
 * A Gemini stream (`:streamGenerateContent?alt=sse`) as OpenAI chunks. Each event's data is one
 * whole GenerateContentResponse carrying what is new since the last; there are no event names and
 * no `[DONE]`: the body just ends ("Generating content", streamGenerateContent). Pure.
 *
 * How the answer ends, since Gemini marks no end of stream:
 * - Each candidate is done once it has had a `finishReason`; the usage may come on that event or a
 *   later one (some models send it on a last event with no content). So the finish chunks, the one
 *   usage chunk and `complete()` all wait for the body's clean end (`end`). Deferring the finish
 *   chunks costs nothing (the body ends right after) and keeps any late content of a candidate
 *   before its finish chunk.
 * - A body that ends before every candidate has had its finish reason is not completed: the relay
 *   reports it as truncated. Nor is one that ended with an error event.
 * - Usage counts are cumulative and repeated (usage.ts): the latest wins, none is summed.
 */
import type { TranslateOut, Translator } from '../../relay/stages.js';
import type { SseEvent } from '../../sse/parser.js';
import { ChunkBuilder, type OpenAIUsage } from '../chunks.js';
import type { AnswerContext } from '../types.js';
import { streamError } from './errors.js';
import { candidateIndex, finishOf, isRecord, modelVersion, newCallId, openAIFinish, promptBlocked, readParts } from './response.js';
import { usageFrom } from './usage.js';
import { fastText } from './fast-text.js';

/** What the stream remembers of one candidate (one OpenAI choice). */
interface Choice {
  /** Function calls made so far: the next one's tool call index. */
  calls: number;
  /** Gemini's finish reason once given. */
  finish: string | null;
}

/** The finish reason recorded for a blocked prompt (`promptFeedback.blockReason`, no candidates). */
const BLOCKED = 'SAFETY';

/** Translates one Gemini stream. */
export class GeminiStreamTranslator implements Translator {
  private readonly chunks: ChunkBuilder;
  private readonly choices = new Map<number, Choice>();
  private usage: OpenAIUsage | null = null;
  /** The rest of the latest event read without a parse, when it carried usage later than {@link usage}. */
  private unreadUsage: string | null = null;
  /** An error event ended the stream, or `end` ran: nothing more is emitted. */
  private over = false;

  constructor(ctx: AnswerContext) {
    this.chunks = new ChunkBuilder(ctx);
  }

  event(e: SseEvent, out: TranslateOut): void {
    if (this.over) return;
    // Most events are one new piece of text: read without a parse (./fast-text.ts). Not the first,
    // which names the model every chunk reports.
    const fast = this.chunks.hasStarted(0) ? fastText(e.data) : null;
    if (fast !== null) {
      // Choice 0 has started (see above): a plain text delta, whose text the observer is told.
      if (fast.text !== '') out.data(this.chunks.delta({ content: fast.text }, 0), fast.text);
      this.choice(0);
      // The latest usage wins: kept unread until the end, or until a parsed event brings a later one.
      this.unreadUsage = e.data.includes('"usageMetadata"', fast.rest) ? e.data.slice(fast.rest) : this.unreadUsage;
      return;
    }
    let response: unknown;
    try {
      response = JSON.parse(e.data);
    } catch {
      return; // not a response (Gemini sends no keep-alives or markers; nothing to learn from it)
    }
    if (!isRecord(response)) return;
    if (isRecord(response.error)) {
      this.over = true;
      out.fail(streamError(response));
      return;
    }
    this.chunks.setModel(modelVersion(response));
    const usage = usageFrom(response.usageMetadata);
    if (usage !== null) {
      this.usage = usage;
      this.unreadUsage = null;
    }
    const candidates = Array.isArray(response.candidates) ? (response.candidates as unknown[]) : [];
    for (const c of candidates) if (isRecord(c)) this.candidate(c, out);
    if (promptBlocked(response)) this.choice(0).finish = BLOCKED;
  }

  end(out: TranslateOut): void {
    if (this.over) return;
    this.over = true;
    if (this.choices.size === 0) return;
    for (const c of this.choices.values()) if (c.finish === null) return;
    const indexes = [...this.choices.keys()].sort((a, b) => a - b);
    for (const i of indexes) {
      const c = this.choices.get(i)!;
      out.data(this.chunks.finish(openAIFinish(c.finish!, c.calls > 0), i));
    }
    if (this.unreadUsage !== null) this.usage = usageOfRest(this.unreadUsage) ?? this.usage;
    if (this.usage !== null) out.data(this.chunks.usage(this.usage));
    out.complete();
  }

  private choice(index: number): Choice {
    let c = this.choices.get(index);
    if (c === undefined) {
      c = { calls: 0, finish: null };
      this.choices.set(index, c);
    }
    return c;
  }

  /** One candidate's new parts: consecutive text (or thought) parts make one chunk, each call one. */
  private candidate(cand: Record<string, unknown>, out: TranslateOut): void {
    const index = candidateIndex(cand);
    const choice = this.choice(index);
    let kind: 'text' | 'thought' = 'text';
    let text = '';
    const flush = (): void => {
      if (text === '') return;
      out.data(this.chunks.delta(kind === 'thought' ? { reasoning_content: text } : { content: text }, index));
      text = '';
    };
    for (const part of readParts(cand)) {
      if (part.kind === 'call') {
        flush();
        const call = { index: choice.calls++, id: part.id ?? newCallId(), type: 'function' as const, function: { name: part.name, arguments: JSON.stringify(part.args) } };
        out.data(this.chunks.delta({ tool_calls: [call] }, index));
        continue;
      }
      if (part.kind !== kind) flush();
      kind = part.kind;
      text += part.text;
    }
    flush();
    const finish = finishOf(cand);
    if (finish !== null) choice.finish = finish;
  }
}

/** The usage in the rest of an event's object (`,"usageMetadata": {…}, …}`), or null. */
function usageOfRest(rest: string): OpenAIUsage | null {
  try {
    const o = JSON.parse(`{${rest.slice(1)}`) as unknown;
    return isRecord(o) ? usageFrom(o.usageMetadata) : null;
  } catch {
    return null;
  }
}
