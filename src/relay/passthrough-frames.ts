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
import { UNCHANGED, trimmed, type TrimTail } from './observer.js';

/** Where the frames go, in stream order (the relay's batch writer). */
export interface PassthroughSink {
  /** A re-encoded frame. */
  write(frame: string): void;
  /** Bytes [start, end) of the current read, a canonical frame forwarded as it came. */
  writeBytes(buf: Buffer, start: number, end: number): void;
}

/**
 * Sees each event except `[DONE]` (usage accounting, src/relay/passthrough-observer.ts) before it
 * is written, and decides what is written, as the chat relay's observers do (src/relay/observer.ts):
 * a usage chunk the caller did not ask for is dropped, `,"usage":null` cut.
 */
export interface PassthroughObserver {
  /**
   * An event whose data is still bytes [start, end) of `buf` (valid UTF-8, one line). Returns what
   * to forward ({@link UNCHANGED}, a trim, null to drop it) or undefined to have the payload
   * decoded and given to `onEvent` instead; it must not have observed the event then.
   */
  onBytes(buf: Buffer, start: number, end: number): TrimTail | null | undefined;
  /** An event's data as it would be relayed (one line): returns it, a trim of it, another payload, or null to drop the event. */
  onEvent(data: string): string | TrimTail | null;
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
    if (isDone(buf, ps, pe)) {
      this.sink.writeBytes(buf, frameStart, pe + 2);
      return;
    }
    let out: string | TrimTail | null | undefined = this.observer.onBytes(buf, ps, pe);
    let data: string | null = null;
    if (out === undefined) {
      data = buf.toString('utf8', ps, pe);
      out = this.observer.onEvent(data);
    }
    if (out === null) return;
    if (out === UNCHANGED || out === data) this.sink.writeBytes(buf, frameStart, pe + 2);
    else if (typeof out === 'string') this.sink.write(encodeRelayed({ data: out }));
    else {
      // The upstream's bytes around the cut: no decode, no re-encode.
      this.sink.writeBytes(buf, frameStart, pe - out.cut - out.keep);
      this.sink.writeBytes(buf, pe - out.keep, pe + 2);
    }
  }

  onEvent(e: SseEvent): void {
    let data = joinLines(e.data);
    if (data !== '[DONE]') {
      const out = this.observer.onEvent(data);
      if (out === null) return;
      data = typeof out === 'string' ? out : trimmed(data, out);
    }
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
