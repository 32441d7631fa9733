/**
 * Read a whole Node stream into one Buffer, with events rather than an async iterator: no
 * generator and promise per chunk on the request path. Shared by the request body
 * (src/http/body.ts, `server.maxBodyBytes`) and JSON answers from upstreams
 * (src/relay/upstream-response.ts, `server.maxUpstreamBodyBytes`): both bounded by `limitBytes`.
 */
import type { Readable } from 'node:stream';

/**
 * The stream closed before it ended. Message and code are what Node gives an IncomingMessage cut
 * off mid-body ('aborted', `ECONNRESET`). Not an UpstreamTransportError (src/upstream/errors.ts):
 * collect also reads callers' request bodies (src/http/body.ts), and src/util stays below both.
 */
export class PrematureCloseError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('aborted');
    this.name = 'PrematureCloseError';
  }
}

/** What {@link collect} needs besides the stream. */
export interface CollectOptions {
  /**
   * Most bytes accepted; past it the read fails with `tooLarge()` and the stream is paused (what
   * it had read is let go): the caller decides what happens to the connection.
   */
  limitBytes?: number;
  tooLarge?: () => Error;
  /** Whether the stream ended properly (default: it emitted 'end'); for 'close' without 'end'. */
  complete?: () => boolean;
}

/** Resolves with every byte of `stream`; rejects on an error, a premature close, or the limit. */
export function collect(stream: Readable, opts: CollectOptions = {}): Promise<Buffer> {
  const limit = opts.limitBytes ?? Infinity;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const done = (err: Error | null): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err === null) return resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      // Stop reading what is refused; the caller decides what happens to the connection.
      stream.pause();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) return done(opts.tooLarge?.() ?? new RangeError(`more than ${limit} bytes`));
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      ended = true;
      done(null);
    };
    const onError = (err: Error): void => done(err);
    const onClose = (): void => {
      if (!ended && !(opts.complete?.() ?? false)) done(new PrematureCloseError());
    };
    if (stream.readableEnded) return resolve(Buffer.alloc(0));
    if (stream.destroyed) return reject(stream.errored ?? new PrematureCloseError());
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}
