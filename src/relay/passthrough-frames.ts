/**
 * The SSE stage of the pass-through relay (`/v1/completions`, `/v1/responses` …): the upstream's
 * event stream re-framed as the chat relay's is — one `data:` line per event, LF line ends only —
 * keeping what the upstream said: `event:` names, `id:`s, comments (an upstream's keep-alives: the
 * pass-through has none of its own) and `retry:`. The common frame `data: <payload>\n\n` goes
 * through as the upstream's own bytes (src/sse/frames.ts); every other frame is decoded by the
 * standard parser and written again by src/sse/encoder.ts (`encodeRelayed`, whose comment gives
 * the one-line rule).
 *
 * Bounded like the chat relay: an event larger than `maxEventBytes` cannot be re-framed without
 * holding it, and a line-reading client would have to hold it whole too, so the stream ends there
 * with an error (the relay writes the error frame); nothing after it is read.
 * At a clean end of the body a last event without its blank line is relayed when it is whole,
 * and an event cut short is reported as a truncation (`end`).
 */
import { createFrameSplitter, type FrameSplitter, type FrameSplitterOptions } from '../sse/frames.js';
import type { SseEvent } from '../sse/parser.js';
import { encodeComment, encodeRelayed, joinLines } from '../sse/encoder.js';
import { UpstreamError, type ProxyError } from '../errors.js';

/** Where the frames go, in stream order (the relay's batch writer). */
export interface PassthroughSink {
  /** A re-encoded frame. */
  write(frame: string): void;
  /** Bytes [start, end) of the current read, a canonical frame forwarded as it came. */
  writeBytes(buf: Buffer, start: number, end: number): void;
}

/** Sees each relayed event except `[DONE]` (usage accounting), before it is written. */
export interface PassthroughObserver {
  /** An event whose data is still bytes [start, end) of `buf` (valid UTF-8, one line). */
  onBytes(buf: Buffer, start: number, end: number): void;
  /** An event decoded by the parser; `data` as it is relayed (one line). */
  onEvent(data: string): void;
}

/** One pass-through SSE body: feed it each read, then `end()` if the body ended cleanly. */
export class PassthroughFrames implements FrameSplitterOptions {
  private readonly splitter: FrameSplitter;
  private error_: ProxyError | null = null;

  constructor(
    private readonly sink: PassthroughSink,
    private readonly observer: PassthroughObserver,
    readonly maxEventBytes: number,
    private readonly upstreamName: string,
  ) {
    this.splitter = createFrameSplitter(this);
  }

  /** Why the stream must end with an error frame (an oversized event, an event cut short), or null. */
  error(): ProxyError | null {
    return this.error_;
  }

  feed(chunk: Buffer): void {
    if (this.error_ === null) this.splitter.feed(chunk);
  }

  /** The upstream ended the body cleanly: relay a whole last event, or report one cut short. */
  end(): void {
    if (this.error_ !== null) return;
    const tail = this.splitter.end();
    if (tail === 'cut') {
      this.error_ = new UpstreamError(`Upstream "${this.upstreamName}" closed the stream inside an event.`, { code: 'upstream_truncated' });
    } else if (tail !== null) {
      this.onEvent(tail);
    }
  }

  // FrameSplitterOptions: what the splitter finds.

  onDataFrame(buf: Buffer, frameStart: number, ps: number, pe: number): void {
    if (!isDone(buf, ps, pe)) this.observer.onBytes(buf, ps, pe);
    this.sink.writeBytes(buf, frameStart, pe + 2);
  }

  onEvent(e: SseEvent): void {
    const data = joinLines(e.data);
    if (data !== '[DONE]') this.observer.onEvent(data);
    this.sink.write(encodeRelayed(data === e.data ? e : { ...e, data }));
  }

  onComment(text: string): void {
    this.sink.write(encodeComment(text));
  }

  onRetry(ms: number): void {
    this.sink.write(`retry: ${ms}\n\n`);
  }

  onError(err: Error & { type: string }): void {
    if (err.type !== 'max-buffer-size-exceeded') return; // ignored fields: the standard ignores them
    this.error_ = new UpstreamError(`Upstream "${this.upstreamName}" sent an event larger than ${this.maxEventBytes} bytes.`, {
      code: 'upstream_event_too_large',
    });
  }
}

/** The payload [ps, pe) of buf is `[DONE]`. */
function isDone(buf: Buffer, ps: number, pe: number): boolean {
  return pe - ps === 6 && buf.toString('latin1', ps, pe) === '[DONE]';
}
