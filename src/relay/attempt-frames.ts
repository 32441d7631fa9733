/**
 * One upstream attempt of a stream relay: its events, from the frame splitter through the observer
 * to the caller's response (issue 2's canonical frames, issue 3's usage stripping, issue 6's byte
 * path). The relay owns the response; this owns the parsing state of one upstream body.
 */
import { createFrameSplitter } from '../sse/frames.js';
import type { SseEvent } from '../sse/parser.js';
import { DONE_FRAME, encodeData, encodeEvent } from '../sse/encoder.js';
import { ProxyError, UpstreamError } from '../errors.js';
import { trimmed, type ByteObserver, type StreamObserver, type TrimTail } from './observer.js';

/** One upstream attempt's parsing state. */
export interface RelayAttempt {
  readonly upstreamName: string;
  feed(chunk: Buffer): void;
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
  dataSent(): void;
  /** Called after each relayed event, with whether a first token has been seen (it is written out at once). */
  afterEvent(sawFirstToken: boolean): void;
  /** The relay was stopped (caller gone, idle, shutdown …). */
  stopped(): boolean;
}

/** Start an attempt: frames are parsed, observed and relayed as they are fed. */
export function createAttempt(sink: RelaySink, observer: StreamObserver & Partial<ByteObserver>, upstreamName: string): RelayAttempt {
  let sawDone = false;
  let parseError: ProxyError | null = null;
  const splitter = createFrameSplitter({
    maxEventBytes: sink.maxEventBytes,
    // The common frame, `data: <json>\n\n`, as bytes: forwarded as the upstream sent it.
    onDataFrame: (buf, frameStart, ps, pe) => {
      if (sawDone) return;
      if (pe - ps === 6 && isDone(buf, ps)) {
        sawDone = true;
        sink.commit();
        sink.writeBytes(buf, frameStart, pe + 2);
        return;
      }
      let out: string | TrimTail | null | undefined = observer.onBytes?.(buf, ps, pe, sink.now());
      let data: string | null = null;
      if (out === undefined) {
        data = buf.toString('utf8', ps, pe);
        out = observer.onEvent(data, sink.now());
      }
      if (out === null) return;
      sink.commit();
      sink.dataSent();
      if (out === data) sink.writeBytes(buf, frameStart, pe + 2);
      else if (typeof out === 'string') sink.write(encodeData(out));
      else {
        sink.writeBytes(buf, frameStart, pe - out.cut - out.keep);
        sink.writeBytes(buf, pe - out.keep, pe + 2);
      }
      sink.afterEvent(observer.sawFirstToken === true);
    },
    onEvent: (e: SseEvent) => {
      if (sawDone) return;
      if (e.data === '[DONE]') {
        sawDone = true;
        sink.commit();
        sink.write(DONE_FRAME);
        return;
      }
      const out = observer.onEvent(e.data, sink.now());
      if (out === null) return;
      const payload = typeof out === 'string' ? out : trimmed(e.data, out);
      sink.commit();
      sink.dataSent();
      // Canonical frame: the payload byte-for-byte; a named event keeps its name.
      sink.write(e.event === undefined || e.event === 'message' ? encodeData(payload) : encodeEvent({ event: e.event, data: payload }));
      sink.afterEvent(observer.sawFirstToken === true);
    },
    onError: (err) => {
      if (err.type === 'max-buffer-size-exceeded') {
        parseError = new UpstreamError(`Upstream "${upstreamName}" sent an event larger than ${sink.maxEventBytes} bytes.`, {
          code: 'upstream_event_too_large',
        });
      }
      // Unknown fields and bad retry values are ignored, as the standard says.
    },
  });
  return {
    upstreamName,
    feed: (chunk) => splitter.feed(chunk),
    done: () => sawDone || parseError !== null || sink.stopped(),
    sawDone: () => sawDone,
    parseError: () => parseError,
  };
}

/** `[DONE]` at buf[at..at+6). */
function isDone(buf: Buffer, at: number): boolean {
  return buf[at] === 0x5b && buf[at + 1] === 0x44 && buf[at + 2] === 0x4f && buf[at + 3] === 0x4e && buf[at + 4] === 0x45 && buf[at + 5] === 0x5d;
}
