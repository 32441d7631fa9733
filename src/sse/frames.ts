// A byte-level front for the SSE parser: the relay's hot path without decoding and
// re-encoding what it forwards unchanged. Pure: no I/O, imports nothing from the app.
//
// OpenAI-compatible upstreams send almost nothing but frames of one shape, `data: <json>\n\n`.
// This splitter finds those in the bytes as read and hands each one over as a byte range, so the
// relay can forward the upstream's own bytes (no TextDecoder over the whole read, no string per
// line, no frame re-encoded, no UTF-8 encode on write). Everything else goes through
// createSseParser (eventsource-parser with our fixes), which stays the one implementation of the
// standard's rules (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
//
// - any other complete frame (comments, `event:`/`id:`/`retry:` fields, several `data:` lines,
//   `data:` without its space, blank lines) is fed to it whole, so it always starts at an event
//   boundary and dispatches the frame at once;
// - a CR anywhere (CR or CRLF line ends), a leading 0xEF (a BOM), bytes that are not UTF-8 (the
//   standard decodes them to U+FFFD), or an unfinished frame larger than `maxEventBytes` hands the
//   rest of the stream to it for good, starting at the current event boundary.
//
// Why the shape test is exact: with LF as the only line end, a frame is everything up to and
// including the first "\n\n" after an event boundary (a line end followed by an empty line, which
// dispatches). `data: P\n\n` where P has no LF is one field line, `data`, whose value is P (one
// leading space removed), then the dispatching blank line: the event's data is P, its type the
// default. bench/sse-parser.bench.ts measures this front against the parser alone.
//
// The end of the stream: the standard discards a last block that no blank line ended. A relay that
// knows the upstream closed cleanly can see more: `end()` returns that block's event when its data
// is complete on its own (`wholeAtEnd`: `[DONE]`, or a whole JSON object or array, which no further
// line could have extended into valid JSON), and 'cut' when it is not (the stream broke inside an
// event, which the caller must learn as a truncation).
import { isUtf8 } from 'node:buffer';
import { createSseParser, type SseEvent, type SseParser } from './parser.js';

/** Receives what the splitter finds, in stream order. */
export interface FrameSplitterHandlers {
  /**
   * A `data: <payload>\n\n` frame: the payload is bytes [payloadStart, payloadEnd) of `buf`, the
   * frame bytes [frameStart, payloadEnd + 2). The payload is valid UTF-8 with no CR or LF. `buf`
   * is only valid during the call (copy or subarray it to keep it).
   */
  onDataFrame(buf: Buffer, frameStart: number, payloadStart: number, payloadEnd: number): void;
  /** Any other event, as the standard parser dispatched it. */
  onEvent(e: SseEvent): void;
  /**
   * The standard parser's errors: an oversized event, and notices of ignored fields (for those
   * the parser sees a frame when it ends, so a last, unfinished frame gives no notice).
   */
  onError?(err: Error & { type: string }): void;
  /** Comments (only for a handler that wants them: the parser skips slicing their text otherwise). */
  onComment?(text: string): void;
  /** `retry:` fields with a valid value (likewise optional). */
  onRetry?(ms: number): void;
}

/** Options: the same limit as the parser's. */
export interface FrameSplitterOptions extends FrameSplitterHandlers {
  /** Largest event accepted, as in {@link createSseParser}. */
  maxEventBytes?: number;
}

/**
 * What {@link FrameSplitter.end} found after the last dispatched event: nothing pending (null), a last
 * event whose data is whole (see the file's header), or 'cut' (an event was pending, incomplete).
 */
export type StreamTail = SseEvent | 'cut' | null;

/** Feed it the bytes as read, in any split; `end` when the upstream closed the stream cleanly. */
export interface FrameSplitter {
  feed(chunk: Uint8Array): void;
  /** The stream ended: what was pending (see {@link StreamTail}). Nothing fed after it is parsed. */
  end(): StreamTail;
}

/**
 * Whether a last event's data, which no blank line ended, is complete as it stands: `[DONE]`, or a
 * JSON object or array (after its closing bracket only whitespace may follow, so no line the
 * upstream might still have sent could have made it another valid text). A bare JSON scalar could
 * be the prefix of a longer one (`1` of `12`), so it does not count; nor does any other text.
 */
export function wholeAtEnd(data: string): boolean {
  if (data === '[DONE]') return true;
  const first = data.trimStart().charCodeAt(0);
  if (first !== 0x7b && first !== 0x5b) return false; // `{` or `[`
  try {
    JSON.parse(data);
    return true;
  } catch {
    return false;
  }
}

const LF = 0x0a;
const CR = 0x0d;
const LFLF = Buffer.from('\n\n');
/** `data: ` */
const DATA_PREFIX = [0x64, 0x61, 0x74, 0x61, 0x3a, 0x20] as const;

/** Creates a splitter for one stream. */
export function createFrameSplitter(opts: FrameSplitterOptions): FrameSplitter {
  return new Splitter(opts);
}

/**
 * One stream's splitter. A class rather than closures over a factory's locals: one object per
 * stream instead of a closure and context per function (heap per open stream, bench/heap.ts). `opts`
 * is called as methods, so a handler may be a class instance.
 */
class Splitter implements FrameSplitter {
  private readonly maxEventBytes: number;
  /** The standard parser, made on first need (most streams never need it: less memory per stream). */
  private parser: SseParser | null = null;
  /** The parser has the rest of the stream. */
  private handedOver = false;
  /** Bytes fed so far (a BOM can only come first). */
  private started = false;
  /** An unfinished frame: the bytes since the last event boundary, in pieces (null: none). */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  /** The parser rejected an oversized event: like it, ignore everything after. */
  private stopped = false;

  constructor(private readonly opts: FrameSplitterOptions) {
    this.maxEventBytes = opts.maxEventBytes ?? Infinity;
  }

  private standard(): SseParser {
    // A parser made mid-stream must not take a U+FEFF at an event boundary for the stream's BOM.
    const opts = this.opts;
    const { onComment, onRetry } = opts;
    this.parser ??= createSseParser({
      onEvent: (e) => opts.onEvent(e),
      onComment: onComment && ((text) => opts.onComment?.(text)),
      onRetry: onRetry && ((ms) => opts.onRetry?.(ms)),
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') this.stopped = true;
        opts.onError?.(err);
      },
      maxEventBytes: opts.maxEventBytes,
      atStreamStart: !this.started,
    });
    return this.parser;
  }

  /** From here on, everything goes to the standard parser: what is pending first, then `rest`. */
  private handOver(...rest: Buffer[]): void {
    const p = this.standard();
    this.handedOver = true;
    const held = this.pending;
    this.pending = null;
    this.pendingBytes = 0;
    if (held !== null) for (const piece of held) p.feed(piece);
    for (const piece of rest) if (piece.length > 0) p.feed(piece);
  }

  /** Keep buf[from..] as the start of an unfinished frame (a copy: not the reader's whole buffer). */
  private hold(buf: Buffer, from: number): void {
    (this.pending ??= []).push(Buffer.from(buf.subarray(from)));
    this.pendingBytes += buf.length - from;
    // Past the limit in bytes it may still fit in characters: the parser decides (and rejects).
    if (this.pendingBytes > this.maxEventBytes) this.handOver();
  }

  /** One complete frame, bytes [start, end) of buf, ending in "\n\n". */
  private frame(buf: Buffer, start: number, end: number, singleLine: boolean): void {
    if (this.stopped) return;
    if (singleLine && end - start - 8 <= this.maxEventBytes && startsWithData(buf, start)) {
      this.opts.onDataFrame(buf, start, start + 6, end - 2);
    } else if (!this.namedFrame(buf, start, end)) {
      this.standard().feed(buf.subarray(start, end));
    }
  }

  /**
   * `event: <name>\ndata: <payload>\n\n`, the frame of providers that name every event (Anthropic's
   * Messages stream): two field lines, `event` (a non-empty name) and `data`, then the dispatching
   * blank line, so the standard's event is {type: name, data: payload}. Dispatched here without
   * the parser's line-by-line decode (bench/translate.bench.ts). Only while the parser has not been
   * made: until then no `id:` was seen, so the event has no id, as the standard's would not.
   * Returns false for any other frame.
   */
  private namedFrame(buf: Buffer, start: number, end: number): boolean {
    if (this.parser !== null || end - start - 16 > this.maxEventBytes || !startsWithEvent(buf, start)) return false;
    const nameEnd = buf.indexOf(LF, start + 7);
    if (nameEnd <= start + 7 || nameEnd + 7 > end - 2 || !startsWithData(buf, nameEnd + 1)) return false;
    if (buf.indexOf(LF, nameEnd + 1) !== end - 2) return false;
    this.opts.onEvent({ event: buf.toString('utf8', start + 7, nameEnd), data: buf.toString('utf8', nameEnd + 7, end - 2) });
    return true;
  }

  /** The complete frames of buf from `pos`; returns where the unfinished rest starts. */
  private frames(buf: Buffer, pos: number): number {
    const len = buf.length;
    while (pos < len) {
      const i = buf.indexOf(LF, pos);
      if (i < 0 || i + 1 >= len) return pos;
      if (buf[i + 1] === LF) {
        this.frame(buf, pos, i + 2, true);
        pos = i + 2;
        continue;
      }
      const j = buf.indexOf(LFLF, i + 1);
      if (j < 0) return pos;
      this.frame(buf, pos, j + 2, false);
      pos = j + 2;
    }
    return pos;
  }

  end(): StreamTail {
    if (this.stopped) return null;
    // What is pending goes to the parser, which finishes the block the way a blank line would.
    if (this.pending !== null) this.handOver();
    const parser = this.parser;
    this.stopped = true;
    if (parser === null) return null;
    const e = parser.end();
    if (e === null) return null;
    return wholeAtEnd(e.data) ? e : 'cut';
  }

  feed(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.stopped) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.handedOver) return this.standard().feed(buf);
    if (!this.started) {
      // 0xEF starts a UTF-8 BOM (or a character no upstream puts first): the parser's rules.
      if (buf[0] === 0xef) this.handOver(buf);
      this.started = true;
      if (this.handedOver) return;
    }
    if (buf.indexOf(CR) !== -1) return this.handOver(buf);
    let pos = 0;
    const pending = this.pending;
    if (pending !== null && this.pendingBytes > 0) {
      // The unfinished frame ends at this read's first boundary, which may span the reads ("\n" | "\n").
      const firstEnd = buf[0] === LF && lastByte(pending) === LF ? 1 : boundaryEnd(buf, 0);
      if (firstEnd < 0) return this.hold(buf, 0);
      const whole = Buffer.concat([...pending, buf.subarray(0, firstEnd)]);
      this.pending = null;
      this.pendingBytes = 0;
      // Bytes the standard decodes to U+FFFD are its business (frames here are forwarded as bytes).
      if (!isUtf8(whole)) return this.handOver(whole, buf.subarray(firstEnd));
      this.frame(whole, 0, whole.length, whole.indexOf(LF) === whole.length - 2);
      pos = firstEnd;
    }
    // Everything before the read's last boundary is whole frames: check their encoding at once.
    const wholeEnd = boundaryEnd(buf, pos, true);
    if (wholeEnd > pos && !isUtf8(buf.subarray(pos, wholeEnd))) return this.handOver(buf.subarray(pos));
    pos = this.frames(buf, pos);
    if (pos < buf.length) this.hold(buf, pos);
  }
}

/** The end of the first (or last) "\n\n" in buf at or after `from`, or -1. */
function boundaryEnd(buf: Buffer, from: number, last = false): number {
  const i = last ? buf.lastIndexOf(LFLF) : buf.indexOf(LFLF, from);
  return i < from ? -1 : i + 2;
}

function startsWithData(buf: Buffer, at: number): boolean {
  return (
    buf[at] === DATA_PREFIX[0] &&
    buf[at + 1] === DATA_PREFIX[1] &&
    buf[at + 2] === DATA_PREFIX[2] &&
    buf[at + 3] === DATA_PREFIX[3] &&
    buf[at + 4] === DATA_PREFIX[4] &&
    buf[at + 5] === DATA_PREFIX[5]
  );
}

const EVENT_PREFIX = Buffer.from('event: ');

function startsWithEvent(buf: Buffer, at: number): boolean {
  for (let k = 0; k < 7; k++) if (buf[at + k] !== EVENT_PREFIX[k]) return false;
  return true;
}

function lastByte(pieces: Buffer[]): number | undefined {
  const p = pieces[pieces.length - 1];
  return p === undefined ? undefined : p[p.length - 1];
}
