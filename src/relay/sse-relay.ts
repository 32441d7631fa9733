/**
 * The streaming relay: upstream bytes → SSE parser → observer → canonical frames →
 * caller, one event at a time, nothing held back.
 *
 * - Status fidelity: headers are committed when the first event is written, so an upstream that
 *   fails before its first event (error status, reset, silence) can still be answered with a real
 *   status — or retried on another deployment (src/relay/attempts.ts). Only a silence past `keepAliveMs` commits 200
 *   early, followed by `: keep-alive` comments while the silence lasts.
 * - After the headers are out, every failure ends the stream with `data: {"error":…}` (the OpenAI
 *   SDK raises it), never a silent truncation (README "What the proxy guarantees").
 * - Backpressure: after each upstream read the relay waits for `drain` if the caller's socket is
 *   full, so memory per stream is bounded by one read plus the socket buffer (test/integration/backpressure.test.ts).
 * - Cancellation both ways: a caller that disconnects aborts the upstream request at once.
 *
 * Its parts: attempt-frames.ts (one upstream body's events → frames), body-reader.ts (reading an
 * upstream body with backpressure), batch-writer.ts (one write per upstream read), observer.ts
 * (the observer contract), stop-result.ts, relay-types.ts (options, owner, results).
 */
import type { ServerResponse } from 'node:http';
import { flattenHead } from '../util/flatten-head.js';
import type { PumpResult, RelayOptions, RelayOwner, StopReason } from './relay-types.js';
import type { EndReason } from '../events/types.js';
import { encodeComment, encodeData } from '../sse/encoder.js';
import { ProxyError, UpstreamError, toOpenAIError } from '../errors.js';
import { writeRendered } from '../util/write-error.js';
import { BatchWriter, type BatchTarget } from './batch-writer.js';
import { drainStream, readDirect, readStream, type BodyConsumer, type DirectRead } from './body-reader.js';
import { stopResult } from './stop-result.js';
import { createAttempt, type RelayAttempt, type RelaySink } from './attempt-frames.js';
import type { ByteObserver, StreamObserver } from './observer.js';
import type { Canceller } from '../util/cancel.js';
import type { UpstreamResponse } from '../upstream/transport.js';

/**
 * Relays SSE to one caller, across one or more upstream attempts. It is itself what its attempts
 * write through ({@link RelaySink}) and what reads their bodies ({@link BodyConsumer}): one object
 * per stream where two objects of closures cost ~1 KB of heap per open stream (bench/heap.ts).
 */
export class SseRelay implements RelaySink, BodyConsumer, BatchTarget {
  /** Headers written to the caller. */
  committed = false;
  /** At least one data frame written to the caller (no retry after this). */
  dataSent = false;
  private stopReason: StopReason | null = null;
  private upstreamAbort: Canceller | null = null;
  private lastActivity: number;
  private nextKeepAliveAt: number;
  private readonly deadline: number;
  private timer: NodeJS.Timeout | null = null;
  private drainWaiter: (() => void) | null = null;
  /** Writes of one upstream read go out together. */
  private readonly out: BatchWriter;
  /** The attempt whose body is being read (BodyConsumer). */
  private current: RelayAttempt | null = null;
  private closed = false;
  /** The first token went out on its own write (see StreamObserver.sawFirstToken). */
  private firstTokenFlushed = false;
  /** The attempt whose body is read directly from the transport, started by {@link early}. */
  private direct: { att: RelayAttempt; read: DirectRead } | null = null;

  /**
   * @param opts the same for every stream of an app
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly opts: RelayOptions,
    private readonly owner: RelayOwner,
  ) {
    this.out = new BatchWriter(res, this);
    const now = opts.now();
    this.lastActivity = now;
    this.nextKeepAliveAt = now + opts.keepAliveMs;
    this.deadline = opts.maxStreamDurationMs > 0 ? now + opts.maxStreamDurationMs : Infinity;
    // 'close' is emitted once: `on`, not `once` (whose wrapper is two more objects per stream).
    res.on('close', this.onClose);
    res.on('drain', this.onDrain);
    this.arm();
  }

  /** The caller went away before we finished. */
  get clientGone(): boolean {
    return this.stopReason === 'client';
  }

  /** The controller whose abort ends the upstream request (the request's own: a stop by the relay ends it all). */
  attach(ctrl: Canceller): void {
    this.upstreamAbort = ctrl;
    if (this.stopReason !== null) ctrl.abort(new Error(this.stopReason));
  }

  /** Stop from outside (graceful shutdown past its grace period). */
  stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.opts.onStop?.(reason);
    this.upstreamAbort?.abort(new Error(reason));
    this.drainWaiter?.();
  }

  private readonly onClose = (): void => {
    this.closed = true;
    if (!this.res.writableFinished) this.stop('client');
    this.drainWaiter?.();
    this.clearTimer();
  };

  private readonly onDrain = (): void => {
    this.drainWaiter?.();
  };

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One timer per stream, re-armed from its own callback: per-chunk work is a field store. */
  private arm(): void {
    if (this.closed) return;
    const now = this.opts.now();
    let at = this.deadline;
    if (this.opts.keepAliveMs > 0) at = Math.min(at, this.nextKeepAliveAt);
    if (this.opts.idleTimeoutMs > 0) at = Math.min(at, this.lastActivity + this.opts.idleTimeoutMs);
    if (at === Infinity) return;
    this.timer = setTimeout(this.onTimer, Math.max(1, at - now));
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.stopReason !== null || this.closed) return;
    const now = this.opts.now();
    if (now >= this.deadline) return this.stop('max_duration');
    if (this.opts.idleTimeoutMs > 0 && now - this.lastActivity >= this.opts.idleTimeoutMs) {
      // Waiting for `drain` all that time means the caller stopped reading, not the upstream
      // (test/integration/backpressure.test.ts): cut the caller, or it would hold the stream and the upstream forever.
      return this.stop(this.drainWaiter !== null ? 'client_stalled' : 'idle');
    }
    if (this.opts.keepAliveMs > 0 && now >= this.nextKeepAliveAt) {
      // (Not while blocked on a caller that does not read: nothing would reach it.)
      if (now - this.lastActivity >= this.opts.keepAliveMs && this.drainWaiter === null) {
        // The upstream is silent (a slow reasoning model): commit 200 and keep idle timers of
        // load balancers from closing the connection.
        this.commit();
        this.out.write(encodeComment('keep-alive'));
      }
      this.nextKeepAliveAt = Math.max(now, this.lastActivity) + this.opts.keepAliveMs;
    }
    this.arm();
  };

  /** Write the response head (200, SSE headers) once. */
  commit(): void {
    if (this.committed || this.closed) return;
    this.committed = true;
    const headers = this.owner.headersOnCommit();
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    headers['connection'] = 'keep-alive';
    headers['x-accel-buffering'] = 'no';
    this.res.writeHead(200, headers);
    flattenHead(this.res);
    // Frames are small and latency-bound: no Nagle delay (`npm run bench -- --only latency`).
    this.res.socket?.setNoDelay(true);
  }

  /** Write the batch so far now, and go on batching the rest of the read. */
  private flushFirstToken(): void {
    this.firstTokenFlushed = true;
    this.out.flush();
    // node:http's res.write corks the socket until the next tick: uncorked now, the first token
    // leaves before the rest of its read is relayed, not after (time to first token, `npm run bench -- --only latency`).
    // Node's own uncork on that tick then finds nothing corked.
    const socket = this.res.socket;
    if (socket !== null && socket.writableCorked > 0) socket.uncork();
    this.out.begin();
  }

  // BatchTarget: where the batches go.

  /** The response can still be written (the caller may have gone). */
  writable(): boolean {
    return !this.closed;
  }

  onWrite(bytes: number): void {
    this.owner.onWrite(bytes);
  }

  // RelaySink: what an attempt writes through (src/relay/attempt-frames.ts).

  /** Largest single upstream event accepted. */
  get maxEventBytes(): number {
    return this.opts.maxEventBytes;
  }

  /** Events of one read arrive together: they share its time (one clock read per read). */
  now(): number {
    return this.lastActivity;
  }

  write(frame: string): void {
    this.out.write(frame);
  }

  writeBytes(buf: Buffer, start: number, end: number): void {
    this.out.writeBytes(buf, start, end);
  }

  markDataSent(): void {
    this.dataSent = true;
  }

  afterEvent(sawFirstToken: boolean): void {
    if (sawFirstToken && !this.firstTokenFlushed) this.flushFirstToken();
  }

  stopped(): boolean {
    return this.stopReason !== null;
  }

  // BodyConsumer: how the current attempt's body reaches it, one batch per upstream read, nothing
  // read while the caller's socket is full.

  /** Read `att`'s body from now on. */
  private consumerFor(att: RelayAttempt): BodyConsumer {
    this.current = att;
    return this;
  }

  done(): boolean {
    return this.current === null || this.current.done();
  }

  take(chunk: Buffer): void {
    this.lastActivity = this.opts.now();
    this.out.begin();
    this.current?.feed(chunk);
    this.out.flush();
  }

  mustWait(wake: () => void): boolean {
    if (!this.res.writableNeedDrain || this.closed) return false;
    this.drainWaiter = () => {
      this.drainWaiter = null;
      wake();
    };
    return true;
  }

  cancelWait(): void {
    this.drainWaiter = null;
  }

  /**
   * Prepare one upstream attempt: its parser and observer, ready before the response arrives so
   * {@link early} can start on the body at once.
   */
  begin(observer: StreamObserver & Partial<ByteObserver>, upstreamName: string): RelayAttempt {
    return createAttempt(this, observer, upstreamName);
  }

  /**
   * Start on a response body the moment its head is parsed, from inside the upstream socket's read
   * (the transport calls this synchronously). Where the transport offers it the body is read
   * directly from then on ({@link readDirect}). Otherwise the frames of that read are relayed as
   * they are parsed until the first token is out, then the body is paused for {@link pump}, which
   * takes the rest one batch per read. Either way the first token does not wait for every HTTP
   * chunk of its read to be parsed first (~0.25 ms for a 256-token answer in one read: time to
   * first token, `npm run bench -- --only latency`).
   */
  early(att: RelayAttempt, res: UpstreamResponse): void {
    if (this.closed || this.stopReason !== null) return;
    const read = readDirect(res, this.consumerFor(att));
    if (read !== null) {
      this.direct = { att, read };
      return;
    }
    const body = res.body;
    if (body.destroyed) return;
    let attached = true;
    const stop = (): void => {
      if (!attached) return;
      attached = false;
      body.off('data', onData);
      body.pause();
      this.out.flush();
    };
    const onData = (chunk: Buffer): void => {
      this.lastActivity = this.opts.now();
      this.out.begin();
      att.feed(chunk);
      if (this.firstTokenFlushed || att.done()) stop();
    };
    body.on('data', onData);
    // Whatever the read held before a first token: written once the read is parsed.
    queueMicrotask(stop);
  }

  /**
   * Relay one upstream response body (after {@link begin}). Resolves with how it ended; never
   * rejects. (Not an async function: a suspended one is ~0.5 KB of heap per open stream, bench/heap.ts.)
   */
  pump(att: RelayAttempt, res: UpstreamResponse): Promise<PumpResult> {
    const direct = this.direct?.att === att ? this.direct.read : null;
    const read = direct !== null ? direct.done : readStream(res.body, this.consumerFor(att));
    return read.then((readError) => this.pumped(att, res, direct, readError));
  }

  /** How the body's read ended, as a {@link PumpResult}; the upstream connection kept or closed. */
  private pumped(att: RelayAttempt, res: UpstreamResponse, direct: DirectRead | null, readError: unknown): PumpResult {
    const { upstreamName } = att;
    if (readError === null && !att.done()) {
      // The body ended cleanly: a last event the upstream ended with its close, not a blank line.
      this.out.begin();
      att.end();
      this.out.flush();
    }
    const sawDone = att.sawDone();
    const parseError = att.parseError();
    if (sawDone && parseError === null && this.stopReason === null) {
      // Done: read what little may follow [DONE] (the chunked terminator) so the upstream
      // connection goes back to the keep-alive pool; destroying would close it.
      if (direct !== null) direct.drain();
      else drainStream(res.body);
    } else if (sawDone || parseError !== null || this.stopReason !== null) {
      // Stop reading: destroying releases the upstream socket at once.
      if (direct !== null) direct.destroy();
      else res.body.destroy();
    }
    if (sawDone) return { kind: 'done' };
    if (this.stopReason !== null) return this.resultFor(upstreamName);
    if (parseError !== null) return this.failure(parseError);
    if (readError !== null) {
      return this.failure(new UpstreamError(`Upstream "${upstreamName}" connection failed mid-stream.`, { code: 'upstream_disconnected', cause: readError }));
    }
    return this.failure(
      new UpstreamError(`Upstream "${upstreamName}" closed the stream before [DONE].`, { code: 'upstream_truncated' }),
      'upstream_truncated',
    );
  }

  /** How the relay ended when it was stopped (idle, shutdown, max duration, caller gone); null if it was not. */
  stoppedResult(upstreamName: string): PumpResult | null {
    if (this.stopReason === null) return null;
    return this.resultFor(upstreamName);
  }

  private resultFor(upstreamName: string): PumpResult {
    return stopResult(this.stopReason ?? 'shutdown', upstreamName, this.opts);
  }

  private failure(error: ProxyError, reason: EndReason = 'upstream_error'): PumpResult {
    return this.dataSent ? { kind: 'ended', reason, error } : { kind: 'retryable', error };
  }

  /** Reset rather than close, so neither kernel keeps unsent bytes for a peer that does not read. */
  private reset(): void {
    const socket = this.res.socket;
    if (socket) socket.resetAndDestroy();
    else this.res.destroy();
  }

  /**
   * After the last frame (test/integration/backpressure.test.ts): a caller that does not read would
   * keep the response and its socket open forever, so it gets `idleTimeoutMs` to take the rest,
   * then the connection is reset.
   */
  private guardLastFrame(untilSocketCloses = false): void {
    if (this.opts.idleTimeoutMs <= 0) return;
    const socket = this.res.socket;
    // A stream that ended in error closes its connection; 'finish' only means the kernel took
    // the bytes, so then the guard lasts until the socket itself is gone.
    if (untilSocketCloses ? !socket || socket.destroyed : this.res.writableFinished) return;
    const t = setTimeout(() => {
      if (untilSocketCloses ? !socket!.destroyed : !this.res.writableFinished) this.reset();
    }, this.opts.idleTimeoutMs);
    t.unref?.();
    const clear = (): void => clearTimeout(t);
    if (untilSocketCloses) socket!.once('close', clear);
    else this.res.once('finish', clear);
    this.res.once('close', () => {
      if (!untilSocketCloses) clear();
    });
  }

  /**
   * Finish the response. With an error: before the head is out, a real status and JSON body;
   * after it, a final `data: {"error":…}` frame.
   */
  end(error: ProxyError | null, extraHeaders: () => Record<string, string> = () => ({})): number {
    this.clearTimer();
    this.res.off('drain', this.onDrain);
    if (this.closed) return this.committed ? 200 : 499;
    if (this.stopReason === 'client_stalled') {
      // Its socket is full: a last frame would never leave.
      this.reset();
      return this.committed ? 200 : 499;
    }
    if (error === null) {
      this.commit();
      this.res.end();
      this.guardLastFrame();
      return 200;
    }
    const rendered = toOpenAIError(error);
    if (this.committed) {
      // The stream failed: no keep-alive for this connection (Node closes it once flushed).
      this.res.shouldKeepAlive = false;
      this.out.write(encodeData(JSON.stringify(rendered.body)));
      this.res.end();
      this.guardLastFrame(true);
      return 200;
    }
    const status = writeRendered(this.res, rendered, extraHeaders());
    this.committed = true;
    return status;
  }
}
