/**
 * How a relay reads an upstream body (backpressure: test/integration/backpressure.test.ts;
 * cost: bench/heap.ts): each upstream read is relayed as one batch, nothing is read while the
 * caller's socket is full (so the upstream body stops at its buffer and TCP slows the upstream),
 * and reading stops at `[DONE]`, a parse failure or a stop.
 *
 * One way in, {@link readBody}, two readers behind it: from inside the socket read for a transport
 * that offers it (the proxy's own HTTP/1.1 client, the default), over a Readable for the others
 * (`node:http`, the simulator, fetch).
 */
import type { Readable } from 'node:stream';
import type { BodySink, DirectBody, UpstreamResponse } from '../upstream/transport.js';

/**
 * What a paused read is woken with when the caller's socket drains: the reader itself, so that no
 * closure is made per upstream read (heap per open stream, bench/heap.ts).
 */
export interface Waker {
  wake(): void;
}

/** What the relay does with what is read (src/relay/pipeline.ts, the pass-through's raw body). */
export interface BodyConsumer {
  /** The request was cancelled (caller gone, idle, shutdown …): read no more. */
  stopped(): boolean;
  /** The attempt needs nothing more: `[DONE]`, or a parse failure. */
  done(): boolean;
  /** Relay the bytes of one upstream read. */
  take(chunk: Buffer): void;
  /** If the caller's socket is full: keep `waker` for its 'drain' and return true. */
  mustWait(waker: Waker): boolean;
  /** Forget a kept waker (reading is over). */
  cancelWait(): void;
}

/** Most bytes, and longest time, read after `[DONE]` before the upstream is cut instead. */
const DRAIN_MAX_BYTES = 64 * 1024;
const DRAIN_MAX_MS = 1_000;

/** A body being read. */
export interface BodyRead {
  /** Settles with the read's error (null if none) when reading is over; never rejects. */
  readonly done: Promise<unknown>;
  /**
   * After `[DONE]`: let the rest (the chunked terminator) be read and dropped, within bounds, so
   * the connection goes back to the keep-alive pool; past the bounds the body is destroyed.
   */
  drain(): void;
  /** Stop reading now: the connection is closed. */
  destroy(): void;
}

/**
 * Start reading `res`'s body for `c`, at once: from inside the transport's socket reads where it
 * offers that (no Readable, no ticks per read), else from its Readable. Call before anything else
 * reads the body, and only once.
 */
export function readBody(res: UpstreamResponse, c: BodyConsumer): BodyRead {
  if (res.direct !== undefined) {
    const reader = new DirectReader(c);
    const direct = res.direct(reader);
    if (direct !== null) {
      reader.direct = direct;
      return reader;
    }
  }
  return new StreamReader(res.body, c);
}

/**
 * The transport's sink and the relay's handle in one object per stream (closures over a function's
 * locals took eight objects and a context: heap per open stream, bench/heap.ts).
 */
class DirectReader implements BodySink, BodyRead, Waker {
  readonly done: Promise<unknown>;
  direct: DirectBody | null = null;
  private settled = false;
  private ended = false;
  /** ≥ 0 once draining after [DONE]. */
  private drainBytes = -1;
  private drainTimer: NodeJS.Timeout | null = null;
  private resolve!: (err: unknown) => void;

  constructor(private readonly c: BodyConsumer) {
    this.done = new Promise<unknown>((r) => (this.resolve = r));
  }

  private settle(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.c.cancelWait();
    this.resolve(err);
  }

  private stopDrain(): void {
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  /** Woken by the caller's 'drain' after {@link BodyConsumer.mustWait}. */
  wake(): void {
    if (this.c.stopped()) this.settle(null);
    else this.direct?.resume();
  }

  data(chunk: Buffer): boolean {
    if (this.settled) {
      if (this.drainBytes >= 0 && (this.drainBytes += chunk.length) > DRAIN_MAX_BYTES) this.direct?.destroy();
      return true;
    }
    const c = this.c;
    if (c.stopped()) {
      this.settle(null);
      return true;
    }
    c.take(chunk);
    if (c.done() || c.stopped()) {
      this.settle(null);
      return true;
    }
    return !c.mustWait(this);
  }

  end(): void {
    this.ended = true;
    this.stopDrain();
    this.settle(null);
  }

  error(err: Error): void {
    this.ended = true;
    this.stopDrain();
    this.settle(err);
  }

  drain(): void {
    if (this.ended) return;
    this.drainBytes = 0;
    this.direct?.resume();
    this.drainTimer = setTimeout(() => this.direct?.destroy(), DRAIN_MAX_MS);
    this.drainTimer.unref?.();
  }

  destroy(): void {
    if (!this.ended) this.direct?.destroy();
  }
}

/**
 * A Readable body read for a {@link BodyConsumer}, settling like {@link DirectReader}. Each `read()`
 * takes everything buffered (the HTTP chunks of one socket read, typically), relayed as one batch.
 * Driven by 'readable' events rather than an async iterator: the iterator kept a promise per
 * stream waiting for the next chunk, which lived long enough between tokens to be promoted and
 * held ~2 KB of old-generation garbage per token at 5,000 open streams (bench/README.md).
 */
class StreamReader implements BodyRead, Waker {
  readonly done: Promise<unknown>;
  private settled = false;
  private resolve!: (err: unknown) => void;

  constructor(
    private readonly body: Readable,
    private readonly c: BodyConsumer,
  ) {
    this.done = new Promise<unknown>((r) => (this.resolve = r));
    if (body.readableEnded || body.destroyed) {
      this.settle(body.readableEnded ? null : (body.errored ?? new Error('upstream body closed before its end')));
      return;
    }
    body.on('readable', this.pull);
    body.once('end', this.onEnd);
    body.once('error', this.onError);
    body.once('close', this.onClose);
    this.pull();
  }

  private settle(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    const body = this.body;
    body.off('readable', this.pull);
    body.off('end', this.onEnd);
    body.off('error', this.onError);
    body.off('close', this.onClose);
    this.c.cancelWait();
    this.resolve(err);
  }

  private readonly pull = (): void => {
    const c = this.c;
    while (!this.settled) {
      if (c.stopped() || c.done()) return this.settle(null);
      if (c.mustWait(this)) return;
      const chunk = this.body.read() as Buffer | null;
      if (chunk === null) return; // wait for 'readable' (or 'end')
      c.take(chunk);
      if (c.done()) return this.settle(null);
    }
  };

  wake(): void {
    this.pull();
  }

  private readonly onEnd = (): void => this.settle(null);
  private readonly onError = (err: unknown): void => this.settle(err);
  private readonly onClose = (): void => this.settle(this.body.readableEnded ? null : (this.body.errored ?? new Error('upstream body closed before its end')));

  drain(): void {
    const body = this.body;
    if (body.readableEnded || body.destroyed) return;
    let bytes = 0;
    const timer = setTimeout(() => body.destroy(), DRAIN_MAX_MS);
    timer.unref?.();
    body.on('data', (chunk: Uint8Array) => {
      bytes += chunk.length;
      if (bytes > DRAIN_MAX_BYTES) body.destroy();
    });
    body.once('close', () => clearTimeout(timer));
    body.on('error', () => undefined);
    body.resume();
  }

  destroy(): void {
    this.body.destroy();
  }
}
