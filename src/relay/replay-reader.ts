/**
 * GET /v1/streams/{id}: a reader of a resumable stream's replay log (src/streams/). It writes the
 * frames after the reader's position exactly as the generating request wrote them (the same bytes,
 * ids included: src/relay/replay-tee.ts), then follows the log live until its last frame, with
 * keep-alives while the generation is silent and the caller's backpressure respected (a read
 * waits for `drain`). How the log ends decides the last frame:
 * - ended: its own last frame (`[DONE]` or the generation's error frame) was the last one read;
 * - lost: the generating instance stopped without finishing it (Redis: its lease lapsed): an error
 *   frame `stream_generation_lost` — never a hang;
 * - overflow: the log stopped being resumable at a bound: an error frame `stream_not_resumable`.
 * A reader already past the last frame gets 204 (the HTML standard's "stop reconnecting" answer
 * for EventSource, HTML "Server-sent events" §9.2.3).
 */
import type { ServerResponse } from 'node:http';
import { ProxyError, toOpenAIError } from '../errors.js';
import { encodeComment, encodeData } from '../sse/encoder.js';
import type { ReadResult, ReplayStore } from '../streams/types.js';
import { drained } from '../util/drained.js';
import { flattenHead } from '../util/flatten-head.js';

/** How a read ended, for its metric. */
export type ReplayEnd = 'replayed' | 'finished' | 'lost' | 'overflow' | 'error' | 'client';

/** Frames fetched per store read. */
const BATCH = 256;

export interface ReplayReadOptions {
  /** Silence before a `: keep-alive` comment (the store read waits this long for new frames). */
  keepAliveMs: number;
  /** Headers for the head (the request id, `x-stream-id`). */
  headers: Record<string, string>;
}

/** How a read ended, and the bytes it wrote (for its record). */
export interface ReplayRead {
  end: ReplayEnd;
  bytes: number;
}

/** The error frame a read ends with when the log cannot go on. */
function failFrame(message: string, code: string): string {
  return encodeData(JSON.stringify(toOpenAIError(new ProxyError(502, 'server_error', message, { code })).body));
}

/**
 * Relay the log of stream `id` after `after` to `res`. `first` is the first read, already made (it
 * decided the status). Resolves when the read is over; never rejects.
 */
export async function relayReplay(
  res: ServerResponse,
  store: ReplayStore,
  id: string,
  after: number,
  first: ReadResult,
  opts: ReplayReadOptions,
): Promise<ReplayRead> {
  let bytes = 0;
  const end = (how: ReplayEnd): ReplayRead => {
    if (how !== 'client') res.end();
    return { end: how, bytes };
  };
  if (first.frames.length === 0 && first.state === 'ended') {
    res.writeHead(204, opts.headers);
    return end('finished');
  }
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  res.on('close', onClose);
  res.writeHead(200, {
    ...opts.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  flattenHead(res);
  res.socket?.setNoDelay(true);
  if (first.frames.length === 0) res.flushHeaders();
  let read: ReadResult | null = first;
  try {
    for (;;) {
      if (read === null) {
        res.write(failFrame(`Stream ${id} expired while it was being read.`, 'stream_expired'));
        return end('error');
      }
      let out = '';
      for (const f of read.frames) out += f.text;
      if (read.frames.length > 0) after = read.frames[read.frames.length - 1]!.seq;
      // A keep-alive after a silent wait; not on the first read, whose head is flushed above: a
      // reader's bytes are the generator's bytes (test/integration/resume.test.ts).
      else if (read.state === 'live' && read !== first) out = encodeComment('keep-alive');
      if (read.state === 'lost') out += failFrame(`The generation of stream ${id} was lost: the proxy instance generating it stopped. The answer ends here.`, 'stream_generation_lost');
      if (read.state === 'overflow') out += failFrame(`Stream ${id} went over its replay limit after event ${after}; it cannot be resumed past that.`, 'stream_not_resumable');
      if (out !== '') {
        bytes += Buffer.byteLength(out);
        if (!res.write(out) && !res.destroyed) await drained(res);
      }
      if (abort.signal.aborted) return end('client');
      if (read.state === 'ended') return end('replayed');
      if (read.state !== 'live') return end(read.state);
      read = await store.read(id, after, { max: BATCH, waitMs: opts.keepAliveMs, signal: abort.signal });
      if (abort.signal.aborted) return end('client');
    }
  } catch {
    // The store could not be read (Redis down): the stream ends with an error, the reader may retry.
    if (!res.destroyed) res.write(failFrame(`Stream ${id} could not be read from the replay store; retry.`, 'stream_store_unavailable'));
    return end('error');
  } finally {
    res.off('close', onClose);
  }
}
