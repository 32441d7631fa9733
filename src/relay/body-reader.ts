/**
 * How the stream relay reads an upstream body (issue 2 backpressure, issue 6 cost): each upstream
 * read is relayed as one batch, nothing is read while the caller's socket is full (so the upstream
 * body stops at its buffer and TCP slows the upstream), and reading stops at `[DONE]`, a parse
 * failure or a stop.
 *
 * Two ways in: {@link readDirect}, from inside the socket read, for a transport that offers it
 * (the proxy's own HTTP/1.1 client, the default), and {@link readStream} over a Readable for the
 * others (`node:http`, the simulator, fetch).
 */
import type { Readable } from 'node:stream';
import type { DirectBody, UpstreamResponse } from '../upstream/transport.js';

/** What the relay does with what is read. */
export interface BodyConsumer {
  /** The relay stopped (caller gone, idle, shutdown …): read no more. */
  stopped(): boolean;
  /** The attempt needs nothing more: `[DONE]`, or a parse failure. */
  done(): boolean;
  /** Relay the bytes of one upstream read. */
  take(chunk: Buffer): void;
  /** If the caller's socket is full: keep `wake` for its 'drain' and return true. */
  mustWait(wake: () => void): boolean;
  /** Forget a kept `wake` (reading is over). */
  cancelWait(): void;
}

/** Most bytes, and longest time, read after `[DONE]` before the upstream is cut instead. */
const DRAIN_MAX_BYTES = 64 * 1024;
const DRAIN_MAX_MS = 1_000;

/** A body being read directly: `done` settles like {@link readStream}'s promise. */
export interface DirectRead {
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
 * Read `res`'s body from inside the transport's socket reads (no Readable, no ticks per read);
 * null when the transport does not offer it. Call before anything else reads the body.
 */
export function readDirect(res: UpstreamResponse, c: BodyConsumer): DirectRead | null {
  if (res.direct === undefined) return null;
  let settled = false;
  let ended = false;
  let drainBytes = -1; // ≥ 0 once draining after [DONE]
  let drainTimer: NodeJS.Timeout | null = null;
  let resolve!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => (resolve = r));
  const settle = (err: unknown): void => {
    if (settled) return;
    settled = true;
    c.cancelWait();
    resolve(err);
  };
  const stopDrain = (): void => {
    if (drainTimer !== null) clearTimeout(drainTimer);
    drainTimer = null;
  };
  const direct: DirectBody | null = res.direct({
    data(chunk) {
      if (settled) {
        if (drainBytes >= 0 && (drainBytes += chunk.length) > DRAIN_MAX_BYTES) direct?.destroy();
        return true;
      }
      if (c.stopped()) {
        settle(null);
        return true;
      }
      c.take(chunk);
      if (c.done() || c.stopped()) {
        settle(null);
        return true;
      }
      return !c.mustWait(() => {
        if (c.stopped()) settle(null);
        else direct?.resume();
      });
    },
    end() {
      ended = true;
      stopDrain();
      settle(null);
    },
    error(err) {
      ended = true;
      stopDrain();
      settle(err);
    },
  });
  if (direct === null) return null;
  return {
    done,
    drain() {
      if (ended) return;
      drainBytes = 0;
      direct.resume();
      drainTimer = setTimeout(() => direct.destroy(), DRAIN_MAX_MS);
      drainTimer.unref?.();
    },
    destroy() {
      if (!ended) direct.destroy();
    },
  };
}

/**
 * Read `body` until the consumer is done, it ends, or it fails; resolves with the read error (null
 * if none), never rejects. Each `read()` takes everything buffered (the HTTP chunks of one socket
 * read, typically), relayed as one batch. Driven by 'readable' events rather than an async
 * iterator: the iterator kept a promise per stream waiting for the next chunk, which lived long
 * enough between tokens to be promoted and held ~2 KB of old-generation garbage per token at
 * 5,000 open streams (bench/README.md).
 */
export function readStream(body: Readable, c: BodyConsumer): Promise<unknown> {
  return new Promise<unknown>((resolve) => {
    let settled = false;
    const settle = (err: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('readable', pull);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      c.cancelWait();
      resolve(err);
    };
    const pull = (): void => {
      while (!settled) {
        if (c.stopped() || c.done()) return settle(null);
        if (c.mustWait(pull)) return;
        const chunk = body.read() as Buffer | null;
        if (chunk === null) return; // wait for 'readable' (or 'end')
        c.take(chunk);
        if (c.done()) return settle(null);
      }
    };
    const onEnd = (): void => settle(null);
    const onError = (err: unknown): void => settle(err);
    const onClose = (): void => settle(body.readableEnded ? null : (body.errored ?? new Error('upstream body closed before its end')));
    if (body.readableEnded) return resolve(null);
    if (body.destroyed) return resolve(body.errored ?? new Error('upstream body closed before its end'));
    body.on('readable', pull);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
    pull();
  });
}

/** After `[DONE]` on a Readable body: what {@link DirectRead.drain} does for a direct one. */
export function drainStream(body: Readable): void {
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
