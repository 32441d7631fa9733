/**
 * The two stage slots of the stream pipeline (src/relay/pipeline.ts) that a capability fills
 * without touching the pipeline: a **translate** stage between decoding and observing (another
 * provider's events into OpenAI chunks), and a **tee** stage between observing and encoding (every
 * frame exactly as the caller gets it, e.g. into a replay log). The OpenAI path leaves both empty,
 * which keeps the byte fast path (docs/ARCHITECTURE.md "Performance rules").
 * test/unit/pipeline-stages.test.ts plugs one of each in.
 */
import type { ProxyError } from '../errors.js';
import type { SseEvent } from '../sse/parser.js';

/** Where a translator puts what it makes of an upstream event. */
export interface TranslateOut {
  /**
   * One OpenAI `chat.completion.chunk` payload (JSON text); it goes on to the observers.
   * `content`: the chunk is a plain text delta of choice 0 (not its first chunk) with this text,
   * which the translator knows: the observer need not read it out of the payload again.
   */
  data(payload: string, content?: string): void;
  /** The upstream said its answer is complete (what `[DONE]` says on the OpenAI path). */
  complete(): void;
  /** The upstream reported an error inside its stream: the stream ends with it. */
  fail(error: ProxyError): void;
}

/** Turns one upstream's events into OpenAI's; one per upstream body. */
export interface Translator {
  /** One decoded upstream event: emit zero or more payloads, `complete` or `fail` through `out`. */
  event(e: SseEvent, out: TranslateOut): void;
  /** The upstream body ended cleanly: emit what is still pending. */
  end(out: TranslateOut): void;
}

/**
 * Sees every frame on its way to the caller, after the observers decided what is forwarded, and
 * writes it: a tee may name each frame (`id:`) and keep it (a replay log,
 * src/relay/replay-tee.ts). Every frame the caller gets passes here, the last one too.
 */
export interface Tee {
  /** One event: its payload as the caller gets it (one line) and its event name. Returns the encoded frame to write. */
  frame(payload: string, name: string | undefined): string;
  /**
   * The stream's last frame: `[DONE]`, or the error payload the stream ends with. Called exactly
   * once, whether or not a caller is still there to read it; returns the encoded frame to write.
   */
  last(payload: string): string;
}
