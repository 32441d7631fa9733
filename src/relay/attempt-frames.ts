/**
 * One upstream attempt of a stream relay: its events, from the frame splitter through the observer
 * to the caller's response (canonical frames, usage stripping, forwarding
 * the upstream's bytes). The relay owns the response; this owns the parsing state of one upstream body.
 */
import { createFrameSplitter, type FrameSplitter, type FrameSplitterOptions } from '../sse/frames.js';
import type { SseEvent } from '../sse/parser.js';
import { DONE_FRAME, encodeRelayed, joinLines } from '../sse/encoder.js';
import { ProxyError, UpstreamError } from '../errors.js';
import { trimmed, type ByteObserver, type StreamObserver, type TrimTail } from './observer.js';

/** One upstream attempt's parsing state. */
export interface RelayAttempt {
  readonly upstreamName: string;
  feed(chunk: Buffer): void;
  /**
   * The upstream closed the body cleanly: a last event it did not end with a blank line is relayed
   * when it is whole (`wholeAtEnd` in src/sse/frames.ts: a final `data: [DONE]` then counts as
   * received); an event cut short is dropped, and without [DONE] the stream stays a truncation.
   */
  end(): void;
  /** [DONE], an oversized event, or a stop: nothing more to read. */
  done(): boolean;
  sawDone(): boolean;
  parseError(): ProxyError | null;
}

/** What the attempt needs from the relay that owns the response. */
export interface RelaySink {
  maxEventBytes: number;
  /** Monotonic time of the current upstream read (events of one read share it). */
  now(): number;
  /** Send the response head if it is not out yet. */
  commit(): void;
  /** A string frame, in order with the bytes. */
  write(frame: string): void;
  /** Bytes [start, end) of the current read, forwarded as they are. */
  writeBytes(buf: Buffer, start: number, end: number): void;
  /** A data frame reached the caller (no retry after this). */
  markDataSent(): void;
  /** Called after each relayed event, with whether a first token has been seen (it is written out at once). */
  afterEvent(sawFirstToken: boolean): void;
  /** The relay was stopped (caller gone, idle, shutdown …). */
  stopped(): boolean;
}

/** Start an attempt: frames are parsed, observed and relayed as they are fed. */
export function createAttempt(sink: RelaySink, observer: StreamObserver & Partial<ByteObserver>, upstreamName: string): RelayAttempt {
  return new Attempt(sink, observer, upstreamName);
}

/**
 * The attempt is its splitter's handler: one object per attempt where closures over a factory's
 * locals took a closure each and a context (heap per open stream, bench/heap.ts).
 */
class Attempt implements RelayAttempt, FrameSplitterOptions {
  private sawDone_ = false;
  private parseError_: ProxyError | null = null;
  private readonly splitter: FrameSplitter;

  constructor(
    private readonly sink: RelaySink,
    private readonly observer: StreamObserver & Partial<ByteObserver>,
    readonly upstreamName: string,
  ) {
    this.splitter = createFrameSplitter(this);
  }

  /** The splitter's limit: the relay's. */
  get maxEventBytes(): number {
    return this.sink.maxEventBytes;
  }

  feed(chunk: Buffer): void {
    this.splitter.feed(chunk);
  }

  end(): void {
    if (this.done()) return;
    const tail = this.splitter.end();
    if (tail !== null && tail !== 'cut') this.onEvent(tail);
  }

  done(): boolean {
    return this.sawDone_ || this.parseError_ !== null || this.sink.stopped();
  }

  sawDone(): boolean {
    return this.sawDone_;
  }

  parseError(): ProxyError | null {
    return this.parseError_;
  }

  /** The common frame, `data: <json>\n\n`, as bytes: forwarded as the upstream sent it. */
  onDataFrame(buf: Buffer, frameStart: number, ps: number, pe: number): void {
    if (this.sawDone_) return;
    const sink = this.sink;
    if (pe - ps === 6 && isDone(buf, ps)) {
      this.sawDone_ = true;
      sink.commit();
      sink.writeBytes(buf, frameStart, pe + 2);
      return;
    }
    const observer = this.observer;
    let out: string | TrimTail | null | undefined = observer.onBytes?.(buf, ps, pe, sink.now());
    let data: string | null = null;
    if (out === undefined) {
      data = buf.toString('utf8', ps, pe);
      out = observer.onEvent(data, sink.now());
    }
    if (out === null) return;
    sink.commit();
    sink.markDataSent();
    if (out === data) sink.writeBytes(buf, frameStart, pe + 2);
    else if (typeof out === 'string') sink.write(encodeRelayed({ data: out }));
    else {
      sink.writeBytes(buf, frameStart, pe - out.cut - out.keep);
      sink.writeBytes(buf, pe - out.keep, pe + 2);
    }
    sink.afterEvent(observer.sawFirstToken === true);
  }

  onEvent(e: SseEvent): void {
    if (this.sawDone_) return;
    const sink = this.sink;
    if (e.data === '[DONE]') {
      this.sawDone_ = true;
      sink.commit();
      sink.write(DONE_FRAME);
      return;
    }
    // One `data:` line per event (src/sse/encoder.ts): the observer sees the payload as the caller
    // will, so what it trims or re-encodes is that one line.
    const data = joinLines(e.data);
    const out = this.observer.onEvent(data, sink.now());
    if (out === null) return;
    const payload = typeof out === 'string' ? out : trimmed(data, out);
    sink.commit();
    sink.markDataSent();
    // Canonical frame: the payload on one line; a named event keeps its name (the id is dropped).
    sink.write(encodeRelayed(e.event === undefined || e.event === 'message' ? { data: payload } : { event: e.event, data: payload }));
    sink.afterEvent(this.observer.sawFirstToken === true);
  }

  onError(err: Error & { type: string }): void {
    if (err.type === 'max-buffer-size-exceeded') {
      this.parseError_ = new UpstreamError(`Upstream "${this.upstreamName}" sent an event larger than ${this.sink.maxEventBytes} bytes.`, {
        code: 'upstream_event_too_large',
      });
    }
    // Unknown fields and bad retry values are ignored, as the standard says.
  }
}

/** `[DONE]` at buf[at..at+6). */
function isDone(buf: Buffer, at: number): boolean {
  return buf[at] === 0x5b && buf[at + 1] === 0x44 && buf[at + 2] === 0x4f && buf[at + 3] === 0x4e && buf[at + 4] === 0x45 && buf[at + 5] === 0x5d;
}
