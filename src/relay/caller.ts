/**
 * The caller's side of a relay: the one owner of the caller's response. It commits the head,
 * writes what the pipeline produces (one write per upstream read, src/relay/batch-writer.ts),
 * waits for `drain`, sends keep-alives, runs the idle timer and the maximum duration, holds the one
 * `close` listener, and ends the response (a final error frame, or a real status before the head).
 *
 * Cancellation flows one way from here: when the caller leaves, stops reading, or its timer fires
 * (src/relay/stream-timer.ts: keep-alive, idle, maximum duration),
 * the caller side aborts the request's {@link Canceller} with the reason ({@link relayStop}); the
 * upstream request and the body read only listen to it. Shutdown aborts the same canceller from
 * outside (src/shutdown.ts). Nothing calls back into this object to stop it.
 *
 * - Status fidelity: a stream's head is committed when its first event is written, so an upstream
 *   that fails before its first event (error status, reset, silence) can still be answered with a
 *   real status, or retried on another deployment (src/relay/attempts.ts). Only a silence past
 *   `keepAliveMs` commits 200 early, followed by `: keep-alive` comments while the silence lasts
 *   (test/unit/sse-relay.test.ts).
 * - After the head is out, every failure ends the stream with `data: {"error":…}` (the OpenAI SDK
 *   raises it), never a silent truncation (README "What the proxy guarantees").
 * - Backpressure: the body read waits for `drain` when the caller's socket is full, so memory per
 *   stream is one read plus the socket buffer (test/integration/backpressure.test.ts).
 */
import type { ServerResponse } from 'node:http';
import { flattenHead } from '../util/flatten-head.js';
import { encodeComment, encodeData } from '../sse/encoder.js';
import { ProxyError, toOpenAIError, type RenderedError } from '../errors.js';
import { scrubText } from '../logging/secrets.js';
import { writeRendered } from '../util/write-error.js';
import type { Canceller } from '../util/cancel.js';
import type { EndReason } from '../events/types.js';
import type { UpstreamHeaders } from '../upstream/transport.js';
import { BatchWriter, type BatchTarget } from './batch-writer.js';
import { relayStop, stopReasonOf, type PumpResult, type RelayOptions, type RelayStop, type StopReason } from './relay-types.js';
import { stopResult } from './stop-result.js';
import { StreamTimer, type TimedStream } from './stream-timer.js';
import { guardLastFrame, resetConnection } from './last-frame.js';
import { relayedHeaders } from './upstream-response.js';
import type { Waker } from './upstream-body.js';
import { serverTiming } from './server-timing.js';
import type { Exchange } from './exchange.js';
import type { Tee } from './stages.js';

/** How a relayed response ended, for the record. */
export interface StreamEnd {
  reason: EndReason;
  status: number;
}

/**
 * One per request whose response a relay writes. One object with methods where closures cost
 * heap per open stream (bench/heap.ts).
 */
export class CallerStream implements BatchTarget, TimedStream {
  /** The head is written. */
  committed = false;
  /** At least one data frame (or a pass-through head) reached the caller: no retry after this. */
  dataSent = false;
  /** The 2xx head of the upstream being relayed: its headers go out on commit (src/relay/pipeline.ts sets it). */
  upstreamHead: UpstreamHeaders | null = null;
  /** Writes of one upstream read go out together. */
  readonly out: BatchWriter;
  private closed = false;
  /** An event stream (keep-alives, error frames) rather than a plain body. */
  private sse = false;
  private readonly timer: StreamTimer;
  /** The paused body read, woken by the caller's next 'drain'. */
  private drainWaiter: Waker | null = null;
  /** The first token went out on its own write (see StreamObserver.sawFirstToken). */
  private firstTokenFlushed = false;
  /**
   * The generation outlives the caller (a resumable stream, src/relay/replay-tee.ts): a caller that
   * leaves or stalls is let go, and the upstream is read on into the tee.
   */
  private detachable = false;
  /** Writes every frame, the last one too (a resumable stream's replay log); null: frames as they are. */
  private tee: Tee | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly cancel: Canceller,
    private readonly opts: RelayOptions,
    private readonly ex: Exchange,
    /** Headers from admission (x-ratelimit-*, x-budget-*), on every response. */
    private readonly extraHeaders: Record<string, string>,
  ) {
    this.out = new BatchWriter(res, this);
    this.timer = new StreamTimer(this, opts);
    // 'close' is emitted once: `on`, not `once` (whose wrapper is two more objects per stream).
    res.on('close', this.onClose);
    res.on('drain', this.onDrain);
  }

  /** Why the request was cancelled, or null. */
  stopReason(): StopReason | null {
    return stopReasonOf(this.cancel.signal);
  }

  /** The request was cancelled: read no more. */
  stopped(): boolean {
    return this.cancel.signal.aborted;
  }

  /**
   * From now on this is an event stream: keep-alives while the upstream is silent, the idle timer,
   * the maximum duration, error frames.
   */
  openStream(): void {
    this.sse = true;
    this.timer.start();
  }

  /**
   * A resumable stream: its frames go through `tee`, and the generation goes on when the caller
   * leaves or stops reading (the timer's idle and maximum duration still apply to it).
   */
  keepGenerating(tee: Tee): void {
    this.tee = tee;
    this.detachable = true;
  }

  /**
   * A detached start: the caller gets 202 with `body` now (its stream id and where to read it),
   * and the stream is generated for the replay log alone.
   */
  detach(body: Buffer): void {
    this.res.writeHead(202, this.ownHeaders({ 'content-type': 'application/json', 'content-length': String(body.length) }));
    this.res.end(body);
    this.closed = true;
  }

  // TimedStream: what the stream's timer acts on.

  isOver(): boolean {
    return (this.closed && !this.detachable) || this.cancel.signal.aborted;
  }

  waitingForDrain(): boolean {
    return this.drainWaiter !== null;
  }

  /** Stop the request (the caller side's own reasons); the first stop wins. */
  stopFor(reason: RelayStop['stop']): void {
    if (this.cancel.signal.aborted) return;
    if (reason === 'client_stalled' && this.detachable) return this.letCallerGo();
    this.opts.onStop?.(reason);
    this.cancel.abort(relayStop(reason));
  }

  keepAlive(): void {
    this.commit();
    this.out.write(encodeComment('keep-alive'));
  }

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.detachable) return this.onDrain();
    this.timer.clear();
    if (!this.res.writableFinished) this.stopFor('client');
  };

  /** A resumable stream's caller stopped reading: cut it, and read the upstream on (it can resume). */
  private letCallerGo(): void {
    this.closed = true;
    resetConnection(this.res);
    this.onDrain();
  }

  private readonly onDrain = (): void => {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.wake();
  };

  /** The frame a failed stream ends with. */
  private errorFrame(payload: string): string {
    return this.tee !== null ? this.tee.last(payload) : encodeData(payload);
  }

  /** `headers` (a fresh object of the caller's) with what every response of the proxy carries: admission's headers, the request id, timing. */
  private ownHeaders(headers: Record<string, string>): Record<string, string> {
    Object.assign(headers, this.extraHeaders);
    headers['x-request-id'] = this.ex.id;
    headers['server-timing'] = serverTiming(this.ex, this.opts.now());
    return headers;
  }

  /** Write an event stream's head (200, SSE headers) once; `ex.openStream()` counts it open. */
  commit(): void {
    if (this.committed) return;
    if (this.closed) {
      // A generation without its caller is still an open stream (the gauge, the record's status).
      if (this.detachable) {
        this.committed = true;
        this.ex.openStream();
      }
      return;
    }
    this.committed = true;
    const ex = this.ex;
    ex.openStream();
    const headers = this.ownHeaders(this.upstreamHead ? relayedHeaders(this.upstreamHead, this.opts.secrets) : {});
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    headers['connection'] = 'keep-alive';
    headers['x-accel-buffering'] = 'no';
    this.res.writeHead(200, headers);
    flattenHead(this.res);
    // Frames are small and latency-bound: no Nagle delay (`npm run bench -- --only latency`).
    this.res.socket?.setNoDelay(true);
  }

  /**
   * Write a head that relays the upstream's status (pass-through: its answer is committed at its
   * head, so it counts as data sent). `headers` get the request id, timing and admission headers.
   */
  commitWith(status: number, headers: Record<string, string>): void {
    if (this.committed || this.closed) return;
    this.committed = true;
    this.dataSent = true;
    const ex = this.ex;
    ex.status = status;
    this.res.writeHead(status, this.ownHeaders(headers));
    if (this.sse) this.res.socket?.setNoDelay(true);
  }

  /** A whole answer (the JSON path): head and body in one go. */
  respond(status: number, headers: Record<string, string>, body: Buffer): void {
    const ex = this.ex;
    this.committed = true;
    this.res.writeHead(status, this.ownHeaders(headers));
    this.res.end(body);
    ex.bytesOut = body.length;
    ex.status = status;
  }

  // What the body read and the pipeline write through, one upstream read at a time.

  /** A plain body's bytes (pass-through), written as they came. */
  writeRaw(chunk: Buffer): void {
    if (this.closed) return;
    this.res.write(chunk);
    this.ex.bytesOut += chunk.length;
  }

  /** An upstream read begins: activity for the idle timer, and its writes are batched. */
  beginRead(): void {
    this.timer.touch(this.opts.now());
    this.out.begin();
  }

  /** The read is relayed: one write. */
  endRead(): void {
    this.out.flush();
  }

  /** Events of one read arrive together: they share its time (one clock read per read). */
  now(): number {
    return this.timer.lastActivity;
  }

  /** After each relayed event: the first token is written out at once, not at the end of its read. */
  afterEvent(sawFirstToken: boolean): void {
    if (!sawFirstToken || this.firstTokenFlushed) return;
    this.firstTokenFlushed = true;
    this.out.flush();
    // node:http's res.write corks the socket until the next tick: uncorked now, the first token
    // leaves before the rest of its read is relayed, not after (time to first token, `npm run bench -- --only latency`).
    // Node's own uncork on that tick then finds nothing corked.
    const socket = this.res.socket;
    if (socket !== null && socket.writableCorked > 0) socket.uncork();
    this.out.begin();
  }

  /** If the caller's socket is full: keep `waker` for its 'drain' and return true. */
  mustWait(waker: Waker): boolean {
    if (!this.res.writableNeedDrain || this.closed) return false;
    this.drainWaiter = waker;
    return true;
  }

  cancelWait(): void {
    this.drainWaiter = null;
  }

  // BatchTarget: where the batches go.

  writable(): boolean {
    return !this.closed;
  }

  onWrite(bytes: number): void {
    this.ex.bytesOut += bytes;
  }

  // The end.

  /** How a request stopped by cancellation ends (idle, shutdown, max duration, caller gone); null if it was not. */
  stoppedResult(upstreamName: string): PumpResult | null {
    const reason = this.stopReason();
    return reason === null ? null : stopResult(reason, upstreamName, this.opts);
  }

  /**
   * End the response when the attempt loop settles (src/relay/attempts.ts): with how the last
   * body ended, or with the error every attempt ended in. A request stopped before any upstream
   * answered (idle, shutdown, maximum duration, the caller left) ends by its stop reason, not by
   * the abort that stop caused. Anything but a {@link ProxyError} is a bug: rethrown.
   */
  settle(attempts: Promise<PumpResult>): Promise<StreamEnd> {
    return attempts.then(
      (result) => this.finish(result, null),
      (err: unknown) => {
        const stopped = this.stoppedResult(this.ex.upstream ?? 'upstream');
        if (stopped !== null) return this.finish(stopped, null);
        if (!(err instanceof ProxyError)) throw err;
        return this.finish(null, err);
      },
    );
  }

  /**
   * End the response with how its last upstream body ended (`result`), or with the error every
   * attempt ended in (`result` null): the record's end reason and status.
   */
  finish(result: PumpResult | null, error: ProxyError | null): StreamEnd {
    const ex = this.ex;
    if (result === null) {
      ex.error = error!.message;
      return { reason: 'upstream_error', status: this.end(error) };
    }
    if (result.kind === 'done') return { reason: 'done', status: this.end(null) };
    if (result.error) ex.error = result.error.message;
    if (result.kind === 'ended') return { reason: result.reason, status: this.end(result.error) };
    return { reason: 'upstream_error', status: this.end(result.error) };
  }

  /**
   * Finish the response. With an error: before the head is out, a real status and JSON body;
   * after it, a final `data: {"error":…}` frame on an event stream, a cut connection on a plain body.
   */
  private end(error: ProxyError | null): number {
    this.timer.clear();
    this.res.off('drain', this.onDrain);
    const committedStatus = this.committed ? this.ex.status || 200 : 499;
    const rendered = error === null ? null : scrubbed(toOpenAIError(error), this.opts.secrets);
    // The error frame is the tee's last frame, caller or not ([DONE] was the pipeline's).
    const errorFrame = rendered === null ? '' : this.errorFrame(JSON.stringify(rendered.body));
    if (this.closed) return this.detachable && !this.committed && rendered !== null ? rendered.status : committedStatus;
    if (this.stopReason() === 'client_stalled') {
      // Its socket is full: a last frame would never leave.
      resetConnection(this.res);
      return committedStatus;
    }
    if (error === null) {
      if (this.sse) this.commit();
      this.res.end();
      guardLastFrame(this.res, this.opts.idleTimeoutMs);
      return this.ex.status || 200;
    }
    if (this.committed) {
      if (!this.sse) {
        // A plain body cannot carry an error: the cut connection tells the caller.
        this.res.destroy();
        return committedStatus;
      }
      // The stream failed: no keep-alive for this connection (Node closes it once flushed).
      this.res.shouldKeepAlive = false;
      this.out.write(errorFrame);
      this.res.end();
      guardLastFrame(this.res, this.opts.idleTimeoutMs, true);
      return committedStatus;
    }
    const status = writeRendered(this.res, rendered!, this.ownHeaders({}));
    this.committed = true;
    return status;
  }
}

/**
 * An error's rendering with the configuration's secrets scrubbed from its message: a provider's
 * error inside its stream (src/providers/) is upstream text, like an error body
 * (src/relay/upstream-response.ts scrubs those).
 */
function scrubbed(rendered: RenderedError, secrets: readonly string[]): RenderedError {
  const message = rendered.body.error.message;
  const clean = scrubText(message, secrets);
  if (clean === message) return rendered;
  return { ...rendered, body: { error: { ...rendered.body.error, message: clean } } };
}
