/**
 * An incremental HTTP/1.1 response parser (RFC 9112): the head, then the body framed by
 * `Transfer-Encoding: chunked`, `Content-Length` or the connection's close (§6.3).
 *
 * Why not llhttp (Node's parser, behind `node:http`): it calls into JavaScript once per HTTP
 * chunk, and upstreams send one chunk per SSE frame. That crossing was 27% of the proxy's CPU per
 * 256-token stream (`node --import=tsx bench/profile.ts`: `socketOnData` self time ~300 µs per
 * stream). This parser de-chunks a whole socket read in one pass and hands the body on
 * as one buffer per read. The head's status line and headers are parsed in head.ts.
 * Pure: imports nothing from the app.
 */
import { HttpParseError, headEnd, parseHead, type ResponseHead } from './head.js';

export { HttpParseError, type ResponseHead };

/** What the parser reports, in order: head, body pieces, end. */
export interface ParserEvents {
  onHead(head: ResponseHead): void;
  /** A piece of the decoded body (one per `execute` call at most). */
  onBody(chunk: Buffer): void;
  onEnd(): void;
}

const enum State {
  Head,
  /** Content-Length body: `remaining` bytes to go. */
  Fixed,
  /** Body until the connection closes. */
  UntilClose,
  ChunkSize,
  ChunkExt,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  Done,
}

const LF = 0x0a;
const CR = 0x0d;
/** More hex digits than this would pass 2^52: no real chunk is that large. */
const MAX_HEX_DIGITS = 13;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Parses one response (a connection's next response gets a new parser). */
export class ResponseParser {
  private state = State.Head;
  private head: Buffer | null = null;
  private remaining = 0;
  private digits = 0;
  /** Bytes of the current trailer line (to tell the empty line that ends the trailers). */
  private lineLen = 0;
  /** The body pieces of the current read; emptied (not replaced) by each flush. */
  private readonly pieces: Buffer[] = [];
  private readonly noBody: boolean;
  private readonly maxHeadBytes: number;

  /**
   * @param events where the parts go
   * @param opts `noBody`: the request was HEAD (a response to it has no body whatever its
   *   headers say); `maxHeadBytes`: refuse longer heads (a bounded buffer per connection).
   */
  constructor(
    private readonly events: ParserEvents,
    opts: { noBody?: boolean; maxHeadBytes?: number } = {},
  ) {
    this.noBody = opts.noBody === true;
    this.maxHeadBytes = opts.maxHeadBytes ?? 64 * 1024;
  }

  /** Feed bytes read from the connection. Throws {@link HttpParseError}. */
  execute(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case State.Head:
          i = this.readHead(buf, i);
          break;
        case State.Fixed:
          i = this.take(buf, i);
          if (this.remaining === 0) this.end();
          break;
        case State.UntilClose:
          this.piece(buf, i, n);
          i = n;
          break;
        case State.ChunkSize: {
          const c = buf[i]!;
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_HEX_DIGITS) throw new HttpParseError('chunk size too large');
            this.remaining = this.remaining * 16 + v;
            i++;
          } else if (this.digits === 0) {
            throw new HttpParseError('invalid chunk size');
          } else if (c === LF) {
            i++;
            this.chunkSizeDone();
          } else if (c === 0x3b || c === 0x20 || c === 0x09 || c === CR) {
            // `;ext`, BWS or the CR of the line end: skip to LF (RFC 9112 §7.1.1: extensions are ignored).
            this.state = State.ChunkExt;
          } else {
            throw new HttpParseError('invalid chunk size');
          }
          break;
        }
        case State.ChunkExt: {
          const lf = buf.indexOf(LF, i);
          if (lf < 0) {
            i = n;
          } else {
            i = lf + 1;
            this.chunkSizeDone();
          }
          break;
        }
        case State.ChunkData:
          i = this.take(buf, i);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        case State.ChunkDataEnd: {
          // CRLF after the chunk's data (a bare LF is accepted, RFC 9112 §2.2).
          const c = buf[i]!;
          i++;
          if (c === LF) this.startChunk();
          else if (c !== CR) throw new HttpParseError('missing CRLF after chunk data');
          break;
        }
        case State.Trailer: {
          const c = buf[i]!;
          i++;
          if (c === LF) {
            if (this.lineLen === 0) this.end();
            this.lineLen = 0;
          } else if (c !== CR) {
            this.lineLen++;
          }
          break;
        }
        case State.Done:
          throw new HttpParseError('data after the end of the response');
      }
    }
    this.flush();
  }

  /** The connection was closed by the peer: ends a close-delimited body; throws if the response was cut. */
  finish(): void {
    if (this.state === State.UntilClose) {
      this.end();
      this.flush();
      return;
    }
    if (this.state !== State.Done) throw new HttpParseError(this.state === State.Head ? 'connection closed before the response head' : 'connection closed before the end of the response');
  }

  /** Up to `remaining` body bytes from buf[i..]; returns where parsing goes on. */
  private take(buf: Buffer, i: number): number {
    const to = Math.min(buf.length, i + this.remaining);
    this.piece(buf, i, to);
    this.remaining -= to - i;
    return to;
  }

  private piece(buf: Buffer, from: number, to: number): void {
    if (to > from) this.pieces.push(from === 0 && to === buf.length ? buf : buf.subarray(from, to));
  }

  private flush(): void {
    const p = this.pieces;
    if (p.length === 0) return;
    const body = p.length === 1 ? p[0]! : Buffer.concat(p);
    p.length = 0;
    this.events.onBody(body);
  }

  private end(): void {
    this.state = State.Done;
    this.flush();
    this.events.onEnd();
  }

  private startChunk(): void {
    this.state = State.ChunkSize;
    this.remaining = 0;
    this.digits = 0;
  }

  private chunkSizeDone(): void {
    if (this.remaining === 0) {
      this.state = State.Trailer;
      this.lineLen = 0;
    } else {
      this.state = State.ChunkData;
    }
  }

  /** Looks for the end of the head from `from`; returns where parsing goes on. */
  private readHead(buf: Buffer, from: number): number {
    const max = this.maxHeadBytes;
    let data: Buffer;
    let start: number;
    if (this.head) {
      start = Math.max(0, this.head.length - 3);
      data = Buffer.concat([this.head, from === 0 ? buf : buf.subarray(from)]);
    } else {
      start = 0;
      data = from === 0 ? buf : buf.subarray(from);
    }
    const end = headEnd(data, start);
    if (end < 0) {
      if (data.length > max) throw new HttpParseError('response head too large');
      // Copy: `buf` may be a view of a larger read the caller reuses.
      this.head = this.head ? data : Buffer.from(data);
      return buf.length;
    }
    if (end > max) throw new HttpParseError('response head too large');
    const consumedBefore = this.head ? this.head.length : 0;
    this.head = null;
    const head = parseHead(data.toString('latin1', 0, end));
    const next = from + (end - consumedBefore);
    if (head.status >= 100 && head.status < 200) {
      // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one (RFC 9110 §15.2).
      if (head.status === 101) throw new HttpParseError('unexpected protocol switch');
      return next;
    }
    this.startBody(head);
    this.events.onHead(head);
    if (this.state === State.Done) this.events.onEnd();
    return next;
  }

  private startBody(head: ResponseHead): void {
    const h = head.headers;
    if (this.noBody || head.status === 204 || head.status === 304) {
      this.state = State.Done;
      return;
    }
    const te = h['transfer-encoding'];
    if (te !== undefined) {
      // RFC 9112 §6.3: with both, Transfer-Encoding wins and the connection is not reused.
      if (h['content-length'] !== undefined) head.keepAlive = false;
      if (/(?:^|,)\s*chunked\s*$/i.test(te)) {
        this.startChunk();
      } else {
        this.state = State.UntilClose;
        head.keepAlive = false;
      }
      return;
    }
    const cl = h['content-length'];
    if (cl !== undefined) {
      // "5, 5" is one length repeated; differing lengths are an attack (RFC 9112 §6.3 item 5).
      const values = new Set(cl.split(',').map((s) => s.trim()));
      if (values.size !== 1) throw new HttpParseError('conflicting content-length');
      const v = [...values][0]!;
      if (!/^\d{1,15}$/.test(v)) throw new HttpParseError('invalid content-length');
      this.remaining = Number(v);
      this.state = this.remaining === 0 ? State.Done : State.Fixed;
      return;
    }
    this.state = State.UntilClose;
    head.keepAlive = false;
  }
}
