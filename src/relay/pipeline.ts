/**
 * The stream pipeline: one upstream body, read forward through its stages to the caller.
 *
 *   upstream body bytes (src/relay/upstream-body.ts)
 *   → decode   (src/sse/frames.ts; the standard parser src/sse/parser.ts behind it)
 *   → translate (src/relay/stages.ts `Translator`; empty on the OpenAI path)
 *   → observe  (src/relay/observer.ts: usage, tokens, timing; decides what is forwarded)
 *   → tee      (src/relay/stages.ts `Tee`; empty unless a capability needs every event)
 *   → encode   (src/sse/encoder.ts: canonical frames, one `data:` line per event, LF only)
 *   → caller   (src/relay/caller.ts: head, one write per read, keep-alives, the end)
 *
 * The common frame, `data: <json>\n\n`, is handed over by the decoder as a byte range and, when
 * nothing changes it, forwarded as the upstream's own bytes: that fast path lives inside the stages
 * (the decoder's byte ranges, the observers' byte scanners), not beside them
 * (docs/ARCHITECTURE.md "Performance rules").
 *
 * One class for chat streams and pass-through streams; a pass-through stream also keeps the
 * upstream's comments, `id:`s and `retry:` ({@link PassthroughPipeline}) and needs no `[DONE]`.
 */
import { createFrameSplitter, type FrameSplitter, type FrameSplitterOptions } from '../sse/frames.js';
import type { SseEvent } from '../sse/parser.js';
import { DONE_FRAME, encodeComment, encodeRelayed, joinLines } from '../sse/encoder.js';
import { ProxyError, UpstreamError } from '../errors.js';
import type { UpstreamResponse } from '../upstream/transport.js';
import { trimmed, UNCHANGED, type ByteObserver, type StreamObserver, type TrimTail } from './observer.js';
import type { Tee, TranslateOut, Translator } from './stages.js';
import type { CallerStream } from './caller.js';
import type { PumpResult } from './relay-types.js';
import { readBody, type Waker, type BodyConsumer, type BodyRead } from './upstream-body.js';
import type { EndReason } from '../events/types.js';

/** What a pipeline's stages are, besides the caller it writes to. */
export interface PipelineStages {
  observer: StreamObserver & Partial<ByteObserver>;
  translator?: Translator | null;
  tee?: Tee | null;
}

/**
 * One upstream body's pipeline. It is the decoder's handler, the body read's consumer and the
 * translator's output at once: one object per attempt where closures over a factory's locals took
 * a closure each and a context (heap per open stream, bench/heap.ts).
 */
export class EventPipeline implements FrameSplitterOptions, BodyConsumer, TranslateOut {
  private readonly splitter: FrameSplitter;
  private sawDone_ = false;
  private error_: ProxyError | null = null;
  /** The body ended inside an event. */
  private cut = false;
  private readonly observer: StreamObserver & Partial<ByteObserver>;
  private readonly translator: Translator | null;
  private readonly tee: Tee | null;

  constructor(
    protected readonly caller: CallerStream,
    stages: PipelineStages,
    readonly upstreamName: string,
    /** Largest single upstream event accepted (the decoder's limit). */
    readonly maxEventBytes: number,
  ) {
    this.observer = stages.observer;
    this.translator = stages.translator ?? null;
    this.tee = stages.tee ?? null;
    this.splitter = createFrameSplitter(this);
  }

  /** An upstream event stream ends with `[DONE]`; without it, a clean end is a truncation. */
  protected get requiresDone(): boolean {
    return true;
  }

  /** Keep the upstream's `id:`s and `event: message` names on the frames. */
  protected get keepsFields(): boolean {
    return false;
  }

  /**
   * Relay `res`'s body, starting at once (the transport calls this from inside the read that
   * brought the head, so the first event does not wait for another read). Resolves with how the
   * body ended; never rejects. (Not an async function: a suspended one is ~0.5 KB of heap per
   * open stream, bench/heap.ts.)
   */
  run(res: UpstreamResponse): Promise<PumpResult> {
    this.caller.upstreamHead = res.headers;
    const read = readBody(res, this);
    return read.done.then((readError) => this.result(read, readError));
  }

  // BodyConsumer: the body read hands over one upstream read at a time.

  stopped(): boolean {
    return this.caller.stopped();
  }

  /** `[DONE]`, an error, or a stop: nothing more to read. */
  done(): boolean {
    return this.sawDone_ || this.error_ !== null || this.caller.stopped();
  }

  take(chunk: Buffer): void {
    this.caller.beginRead();
    this.splitter.feed(chunk);
    this.caller.endRead();
  }

  mustWait(waker: Waker): boolean {
    return this.caller.mustWait(waker);
  }

  cancelWait(): void {
    this.caller.cancelWait();
  }

  // Decode: what the splitter finds.

  /** The common frame, `data: <json>\n\n`, as bytes: forwarded as the upstream sent it when nothing changes it. */
  onDataFrame(buf: Buffer, frameStart: number, ps: number, pe: number): void {
    if (this.sawDone_) return;
    if (pe - ps === 6 && isDone(buf, ps)) {
      if (this.translator !== null) return this.translator.event({ data: '[DONE]' }, this);
      if (this.tee !== null) return this.done_();
      this.sawDone_ = true;
      this.caller.commit();
      this.caller.out.writeBytes(buf, frameStart, pe + 2);
      return;
    }
    if (this.translator !== null) return this.translator.event({ data: buf.toString('utf8', ps, pe) }, this);
    // A tee names every frame, so none can leave as the upstream's bytes: the string path.
    if (this.tee !== null) return this.observe(buf.toString('utf8', ps, pe), undefined, undefined);
    const observer = this.observer;
    const caller = this.caller;
    let out: string | TrimTail | null | undefined = observer.onBytes?.(buf, ps, pe, caller.now());
    let data: string | null = null;
    if (out === undefined) {
      data = buf.toString('utf8', ps, pe);
      out = observer.onEvent(data, caller.now());
    }
    if (out === null) return;
    caller.commit();
    caller.dataSent = true;
    if (out === data || out === UNCHANGED) caller.out.writeBytes(buf, frameStart, pe + 2);
    else if (typeof out === 'string') caller.out.write(encodeRelayed({ data: out }));
    else {
      // The upstream's bytes around the cut: no decode, no re-encode.
      caller.out.writeBytes(buf, frameStart, pe - out.cut - out.keep);
      caller.out.writeBytes(buf, pe - out.keep, pe + 2);
    }
    caller.afterEvent(observer.sawFirstToken === true);
  }

  /** Any other event, as the standard parser dispatched it. */
  onEvent(e: SseEvent): void {
    if (this.sawDone_) return;
    if (this.translator !== null) return this.translator.event(e, this);
    if (e.data === '[DONE]') return this.done_();
    // One `data:` line per event (src/sse/encoder.ts): the observer sees the payload as the caller
    // will, so what it trims or re-encodes is that one line.
    this.observe(joinLines(e.data), e.event, e.id);
  }

  onError(err: Error & { type: string }): void {
    if (err.type === 'max-buffer-size-exceeded') {
      this.error_ = new UpstreamError(`Upstream "${this.upstreamName}" sent an event larger than ${this.maxEventBytes} bytes.`, {
        code: 'upstream_event_too_large',
      });
    }
    // Unknown fields and bad retry values are ignored, as the standard says.
  }

  // TranslateOut: what a translator emits.

  data(payload: string, content?: string): void {
    const observer = this.observer;
    if (content === undefined || observer.onContent === undefined) return this.observe(payload, undefined, undefined);
    const out = observer.onContent(payload, content, this.caller.now());
    if (out !== null) this.forward(typeof out === 'string' ? out : trimmed(payload, out), undefined, undefined);
  }

  complete(): void {
    if (!this.sawDone_) this.done_();
  }

  fail(error: ProxyError): void {
    this.error_ ??= error;
  }

  // Observe → tee → encode → caller.

  private observe(data: string, event: string | undefined, id: string | undefined): void {
    const out = this.observer.onEvent(data, this.caller.now());
    if (out === null) return;
    this.forward(typeof out === 'string' ? out : trimmed(data, out), event, id);
  }

  private forward(payload: string, event: string | undefined, id: string | undefined): void {
    const caller = this.caller;
    caller.commit();
    caller.dataSent = true;
    const keep = this.keepsFields;
    // Canonical frame: the payload on one line; a named event keeps its name.
    if (event === 'message' && !keep) event = undefined;
    if (this.tee !== null) caller.out.write(this.tee.frame(payload, event));
    else caller.out.write(encodeRelayed({ data: payload, event, id: keep ? id : undefined }));
    caller.afterEvent(this.observer.sawFirstToken === true);
  }

  private done_(): void {
    this.sawDone_ = true;
    this.caller.commit();
    this.caller.out.write(this.tee !== null ? this.tee.last('[DONE]') : DONE_FRAME);
  }

  // The end of the body.

  /**
   * The upstream closed the body cleanly: a last event it did not end with a blank line is relayed
   * when it is whole (`wholeAtEnd` in src/sse/frames.ts: a final `data: [DONE]` then counts as
   * received); an event cut short is a truncation.
   */
  private end(): void {
    const tail = this.splitter.end();
    if (tail === 'cut') this.cut = true;
    else if (tail !== null) this.onEvent(tail);
    // A cut event is a truncation whatever the translator would make of the end.
    if (this.translator !== null && !this.done() && !this.cut) this.translator.end(this);
  }

  /** How the body's read ended; the upstream connection kept or closed. */
  private result(read: BodyRead, readError: unknown): PumpResult {
    const caller = this.caller;
    if (readError === null && !this.done()) {
      caller.beginRead();
      this.end();
      caller.endRead();
    }
    const stopped = caller.stopped();
    const error = this.error_;
    if (this.sawDone_ && error === null && !stopped) {
      // Done: read what little may follow [DONE] (the chunked terminator) so the upstream
      // connection goes back to the keep-alive pool; destroying would close it.
      read.drain();
    } else if (this.sawDone_ || error !== null || stopped) {
      // Stop reading: destroying releases the upstream socket at once.
      read.destroy();
    }
    if (this.sawDone_) return { kind: 'done' };
    if (stopped) return caller.stoppedResult(this.upstreamName)!;
    if (error !== null) return this.failure(error);
    const name = this.upstreamName;
    if (readError !== null) {
      return this.failure(new UpstreamError(`Upstream "${name}" connection failed mid-stream.`, { code: 'upstream_disconnected', cause: readError }));
    }
    if (this.cut) return this.failure(new UpstreamError(`Upstream "${name}" closed the stream inside an event.`, { code: 'upstream_truncated' }), 'upstream_truncated');
    if (this.requiresDone) return this.failure(new UpstreamError(`Upstream "${name}" closed the stream before [DONE].`, { code: 'upstream_truncated' }), 'upstream_truncated');
    return { kind: 'done' };
  }

  /** Before any data reached the caller a failure may be retried, and that upstream's head is forgotten. */
  private failure(error: ProxyError, reason: EndReason = 'upstream_error'): PumpResult {
    if (this.caller.dataSent) return { kind: 'ended', reason, error };
    // Its head must not reach the caller if a keep-alive commits while the next deployment is
    // asked (test/unit/sse-relay.test.ts "headers of the deployment that serves").
    this.caller.upstreamHead = null;
    return { kind: 'retryable', error };
  }
}

/**
 * A pass-through stream (`/v1/completions`, `/v1/responses` …): its head is already out, it keeps
 * what the upstream said besides data — comments (an upstream's keep-alives), `id:`s, `retry:` —
 * and a clean end without `[DONE]` is a normal end (the Responses API sends none).
 */
export class PassthroughPipeline extends EventPipeline {
  protected override get requiresDone(): boolean {
    return false;
  }

  protected override get keepsFields(): boolean {
    return true;
  }

  // Nothing after `[DONE]` (or an error): reading stops there, so what follows it in the same read
  // must not be relayed either, or the output would depend on how the upstream's reads split.

  onComment(text: string): void {
    if (!this.done()) this.caller.out.write(encodeComment(text));
  }

  onRetry(ms: number): void {
    if (!this.done()) this.caller.out.write(`retry: ${ms}\n\n`);
  }
}

/** `[DONE]` at buf[at..at+6). */
function isDone(buf: Buffer, at: number): boolean {
  return buf[at] === 0x5b && buf[at + 1] === 0x44 && buf[at + 2] === 0x4f && buf[at + 3] === 0x4e && buf[at + 4] === 0x45 && buf[at + 5] === 0x5d;
}
