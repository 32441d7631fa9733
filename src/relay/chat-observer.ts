/**
 * What the chat stream relay observes in each chunk: usage, finish reason and
 * tokens, read from the bytes when a chunk is a plain content delta; and the usage the caller did
 * not ask for, hidden again (the chunk, or `"usage":null` on every chunk).
 */
import type { Exchange } from './exchange.js';
import { UNCHANGED, type ByteObserver, type StreamObserver, type TrimTail } from './observer.js';
import { inspectChunk } from '../usage/chunk.js';
import { endsWithUsageNull, scanContentDelta, scanContentDeltaBytes } from '../usage/scan.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { UpstreamTap } from '../logging/tap.js';

/** What include_usage appends to each chunk when the caller did not ask for it (pass-through too: src/relay/passthrough-observer.ts). */
export const USAGE_NULL_TAIL = ',"usage":null}';
/** Drop `,"usage":null` and keep the closing brace: the relay cuts it from the upstream's bytes. */
export const STRIP_USAGE_NULL: TrimTail = { cut: USAGE_NULL_TAIL.length - 1, keep: 1 };

/** Observes chat chunks: usage, finish reason, tokens; hides the usage chunk the caller did not ask for. */
export class ChatObserver implements StreamObserver, ByteObserver {
  get sawFirstToken(): boolean {
    return this.ex.firstTokenAt !== null;
  }

  /**
   * Plain content deltas may skip the JSON.parse (src/usage/scan.ts): always, unless the debug line wants
   * every event parsed.
   */
  private readonly fast: boolean;

  constructor(
    private readonly ex: Exchange,
    private readonly tracker: UsageTracker,
    private readonly callerAskedUsage: boolean,
    private readonly tap: UpstreamTap | null = null,
  ) {
    this.fast = tap === null || !tap.wantsParsedEvents;
  }

  onBytes(buf: Buffer, start: number, end: number, now: number): TrimTail | null | undefined {
    // A plain content delta read from the bytes (src/usage/scan.ts), in the layout include_usage gives every
    // chunk: `…"choices":[…],"usage":null}`. Anything else (a `usage` elsewhere, which the caller
    // who did not ask must not see, or a chunk with usage) takes the string path.
    if (!this.fast || !endsWithUsageNull(buf, start, end)) return undefined;
    const content = scanContentDeltaBytes(buf, start, end);
    if (content === null || content === undefined) return undefined;
    this.onContentDelta(content, now);
    return this.callerAskedUsage ? UNCHANGED : STRIP_USAGE_NULL;
  }

  onEvent(data: string, now: number): string | TrimTail | null {
    const content = this.fast ? scanContentDelta(data) : null;
    if (content === null) return this.full(data, now);
    let out: string | TrimTail = data;
    if (!this.callerAskedUsage && data.endsWith(USAGE_NULL_TAIL)) out = STRIP_USAGE_NULL;
    else if (!this.callerAskedUsage && data.includes('"usage":null')) return this.full(data, now);
    this.onContentDelta(content, now);
    return out;
  }

  /** A translator's plain text delta (it has no `usage` to hide): recorded as {@link onEvent} would. */
  onContent(data: string, content: string, now: number): string | TrimTail | null {
    if (!this.fast) return this.onEvent(data, now);
    this.onContentDelta(content, now);
    return data;
  }

  /** A plain content delta, read without a parse: what the full path would have recorded. */
  private onContentDelta(content: string, now: number): void {
    this.tap?.onContentDelta(content);
    this.tracker.onContent(content);
    this.ex.chunks++;
    if (content.length > 0) this.ex.markToken(now);
  }

  /** The full path: parse the chunk and inspect every field. */
  private full(data: string, now: number): string | TrimTail | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      // Not JSON: relay it untouched, the caller's client decides.
      this.tap?.onEvent(data, undefined, this.ex.upstream);
      this.ex.chunks++;
      return data;
    }
    // Null unless debug or content logging is on: one check per event otherwise.
    if (this.tap !== null) this.tap.onEvent(data, parsed, this.ex.upstream);
    const obs = inspectChunk(parsed);
    let stripped: TrimTail | null = null;
    this.tracker.onChunk(obs);
    if (obs.finishReason !== null) this.ex.finishReason = obs.finishReason;
    if (!this.callerAskedUsage) {
      // The caller did not ask for usage: it must see what OpenAI would have sent it — no usage
      // chunk, and no `"usage":null` that include_usage adds to every chunk (test/unit/usage.test.ts).
      if (obs.usageOnly) return null;
      if (data.endsWith(USAGE_NULL_TAIL)) stripped = STRIP_USAGE_NULL;
      else if (typeof parsed === 'object' && parsed !== null && (parsed as { usage?: unknown }).usage === null) {
        // Another key order or spacing (`, "usage": null`): rare, so re-encode without it.
        const { usage: _usage, ...rest } = parsed as Record<string, unknown>;
        data = JSON.stringify(rest);
      }
    }
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const e = (parsed as { error?: { message?: unknown } }).error;
      this.ex.error = typeof e?.message === 'string' ? e.message : 'upstream error event';
    }
    this.ex.chunks++;
    if (obs.content.length > 0) this.ex.markToken(now);
    return stripped ?? data;
  }
}
