/**
 * The top-level `usage` of a JSON answer, read from its end (test/unit/tail-usage.test.ts;
 * docs/ARCHITECTURE.md "Performance rules"). A chat completion puts `usage` after `choices`, near
 * the end of the body, so reading the body backwards, member by member at the top level, reaches it
 * after a few short members, and only that object is parsed. Decoding and parsing the whole ~1.5 KB
 * answer to read it cost ~20 µs per non-streaming request (`bench/profile.ts --scenario json`),
 * about an eighth of the proxy's CPU per request.
 *
 * Pure: bytes in, the parsed value out. It works on bytes because every byte JSON's structure
 * uses is ASCII, and no byte of a multi-byte UTF-8 sequence is.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const USAGE = Buffer.from('usage');

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index of the opening quote of the string whose closing quote is at `end`; -1 if none. */
function stringStart(buf: Buffer, end: number): number {
  let j = end - 1;
  for (;;) {
    j = buf.lastIndexOf(QUOTE, j);
    if (j < 0) return -1;
    // A quote preceded by an odd number of backslashes is escaped, part of the string.
    let k = j - 1;
    while (k >= 0 && buf[k] === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j;
    j--;
  }
}

/** Index just before the value that ends at `end` (inclusive); -1 if it does not read as one. */
function valueStart(buf: Buffer, end: number): number {
  const c = buf[end]!;
  if (c === QUOTE) return stringStart(buf, end);
  if (c === RBRACE || c === RBRACKET) {
    let depth = 1;
    let j = end - 1;
    while (j >= 0) {
      const d = buf[j]!;
      if (d === QUOTE) {
        j = stringStart(buf, j);
        if (j < 0) return -1;
      } else if (d === RBRACE || d === RBRACKET) {
        depth++;
      } else if (d === LBRACE || d === LBRACKET) {
        if (--depth === 0) return j;
      }
      j--;
    }
    return -1;
  }
  // A number or a literal: back to the separator before it.
  let j = end;
  while (j >= 0) {
    const d = buf[j]!;
    if (d === COLON || d === COMMA || d === LBRACE || d === LBRACKET || isSpace(d)) return j + 1;
    j--;
  }
  return -1;
}

/**
 * The value of the top-level `usage` member of the JSON object text in `buf`, parsed; `undefined`
 * when the text has no such member or does not read as an object from its end (the caller then
 * parses the whole text). Like `JSON.parse`, the last of duplicate keys wins. A key written with
 * escapes is not compared: the whole text is left to `JSON.parse`.
 */
export function tailUsage(buf: Buffer): unknown {
  let i = buf.length - 1;
  while (i >= 0 && isSpace(buf[i]!)) i--;
  if (i < 0 || buf[i] !== RBRACE) return undefined;
  i--;
  for (;;) {
    while (i >= 0 && isSpace(buf[i]!)) i--;
    if (i < 0 || buf[i] === LBRACE) return undefined; // the object's start: no usage
    const end = i;
    const start = valueStart(buf, end);
    if (start < 0) return undefined;
    i = start - 1;
    while (i >= 0 && isSpace(buf[i]!)) i--;
    if (i < 0 || buf[i] !== COLON) return undefined;
    i--;
    while (i >= 0 && isSpace(buf[i]!)) i--;
    if (i < 0 || buf[i] !== QUOTE) return undefined;
    const keyStart = stringStart(buf, i);
    if (keyStart < 0) return undefined;
    const escape = buf.indexOf(BACKSLASH, keyStart);
    if (escape >= 0 && escape < i) return undefined;
    if (i - keyStart - 1 === USAGE.length && buf.compare(USAGE, 0, USAGE.length, keyStart + 1, i) === 0) {
      try {
        return JSON.parse(buf.toString('utf8', start, end + 1)) as unknown;
      } catch {
        return undefined;
      }
    }
    i = keyStart - 1;
    while (i >= 0 && isSpace(buf[i]!)) i--;
    if (i >= 0 && buf[i] === COMMA) {
      i--;
      continue;
    }
    return undefined;
  }
}
