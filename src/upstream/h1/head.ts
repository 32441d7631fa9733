/**
 * The response head of the HTTP/1.1 client's parser (src/upstream/h1/parser.ts): finding the
 * blank line that ends it and parsing the status line and headers (RFC 9112 §4, §5), and the
 * error a malformed response raises. Pure: imports nothing from the app.
 */

/** A malformed response; the connection cannot be used again. */
export class HttpParseError extends Error {
  readonly code = 'HPE_INVALID';
}

/** A parsed response head. */
export interface ResponseHead {
  status: number;
  /** Names lower-cased; a repeated header's values joined with ", " (RFC 9110 §5.3). */
  headers: Record<string, string>;
  /** The connection may carry another request once this response's body has ended. */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N` from the server, in ms (how long it keeps an idle connection). */
  keepAliveTimeoutMs: number | null;
}

const LF = 0x0a;
const CR = 0x0d;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Index just past the blank line that ends the head, or -1. Accepts LF as well as CRLF line ends. */
export function headEnd(data: Buffer, start: number): number {
  let i = data.indexOf(LF, start);
  while (i >= 0) {
    const a = data[i + 1];
    if (a === LF) return i + 2;
    if (a === CR && data[i + 2] === LF) return i + 3;
    if (a === undefined || (a === CR && i + 2 >= data.length)) return -1;
    i = data.indexOf(LF, i + 1);
  }
  return -1;
}

/** Parses a response head (the text up to and including its blank line). Throws {@link HttpParseError}. */
export function parseHead(text: string): ResponseHead {
  const lines = text.split(/\r?\n/);
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) throw new HttpParseError('invalid status line');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) throw new HttpParseError('obsolete header line folding');
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new HttpParseError('invalid header name');
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    const prev = headers[key];
    headers[key] = prev === undefined ? value : `${prev}, ${value}`;
  }
  const http10 = m[1] === '0';
  const conn = (headers['connection'] ?? '').toLowerCase();
  const keepAlive = http10 ? /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(conn) : !/(?:^|,)\s*close\s*(?:,|$)/.test(conn);
  const ka = /(?:^|,)\s*timeout=(\d+)/i.exec(headers['keep-alive'] ?? '');
  return { status: Number(m[2]), headers, keepAlive, keepAliveTimeoutMs: ka ? Number(ka[1]) * 1000 : null };
}
