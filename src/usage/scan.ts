/**
 * A fast path for the most common upstream event, a plain content delta in OpenAI's key order
 * (`{…,"choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]…}`),
 * read by checking fixed markers instead of `JSON.parse` (parsing every chunk was the
 * relay's largest own cost in bench/profile.ts). It recognises that one shape exactly: the text
 * between `"delta":{"content":"` and its closing quote, followed by a known tail. Anything else
 * — the role chunk, usage, finish_reason, tool calls, reasoning, several choices, other key
 * orders or spacing — returns null and takes the full parse (src/usage/chunk.ts). Pure.
 */

const HEAD = '"choices":[{"index":0,"delta":{"content":"';
/** What may follow the content's closing quote, up to the end of the choices array. */
const TAILS = ['},"logprobs":null,"finish_reason":null}]', '},"finish_reason":null}]', '},"finish_reason":null,"logprobs":null}]'];

/**
 * The content text of a plain content-delta chunk, or null when the chunk needs the full parse.
 */
export function scanContentDelta(data: string): string | null {
  const at = data.indexOf(HEAD);
  if (at < 0) return null;
  const v = at + HEAD.length;
  const j = closingQuote(data, v);
  if (j < 0) return null;
  let tailEnd = -1;
  for (let t = 0; t < TAILS.length; t++) {
    if (data.startsWith(TAILS[t]!, j + 1)) {
      tailEnd = j + 1 + TAILS[t]!.length;
      break;
    }
  }
  if (tailEnd < 0) return null;
  // After the choices: no usage object or error (`"usage":null` is fine). OpenAI and the
  // servers that copy it put these after `choices`; a chunk with `usage` first is parsed in full
  // only if it also breaks the head or tail above.
  const after = data.slice(tailEnd);
  if (after.length > 1 && (after.includes('"usage":{') || after.includes('"error"'))) return null;
  return stringValue(data, v, j);
}

/**
 * The index of the quote that closes the JSON string whose text starts at `v` (just after its
 * opening quote), or -1 if it does not close within `data`. Inside a JSON string a quote is always
 * escaped, so the first unescaped quote ends it.
 */
export function closingQuote(data: string, v: number): number {
  for (let j = v; j < data.length; j++) {
    const c = data.charCodeAt(j);
    if (c === 34 /* " */) return j;
    if (c === 92 /* \ */) j++;
  }
  return -1;
}

/** The value of the JSON string text `data[v, j)` (between its quotes): as it is, or decoded when it has escapes; null if it does not decode. */
export function stringValue(data: string, v: number, j: number): string | null {
  const raw = data.slice(v, j);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(data.slice(v - 1, j + 1)) as string;
  } catch {
    return null;
  }
}

const USAGE_NULL_END = Buffer.from(',"usage":null}');
const ARRAY_END = Buffer.from(']}');
const HEAD_BYTES = Buffer.from(HEAD);
/** The choice's tail without the array's `]`, for the end-anchored scan. */
const CHOICE_TAILS = TAILS.map((t) => Buffer.from(t.slice(0, -1)));

/** Whether the payload bytes [start, end) end with `,"usage":null}`. */
export function endsWithUsageNull(buf: Buffer, start: number, end: number): boolean {
  return bytesAt(buf, end - USAGE_NULL_END.length, USAGE_NULL_END, start);
}

/** buf[at..] starts with `what` (bounds-checked). */
function bytesAt(buf: Uint8Array, at: number, what: Uint8Array, min: number): boolean {
  if (at < min || at + what.length > buf.length) return false;
  for (let i = 0; i < what.length; i++) if (buf[at + i] !== what[i]) return false;
  return true;
}

function backslashesBefore(buf: Uint8Array, at: number, min: number): number {
  let n = 0;
  while (at - n - 1 >= min && buf[at - n - 1] === 92) n++;
  return n;
}

/**
 * {@link scanContentDelta} on the UTF-8 bytes [start, end) of a payload, for the common layout
 * that ends with the choices array (then `,"usage":null}` or `}`): fixed-position byte compares
 * and a walk back over the content only; only the content is decoded. (Searching the decoded
 * chunk for the head cost ~0.34 µs a chunk, this ~0.1: bench/README.md.)
 * Returns undefined when the payload is not in that layout (decode it and use scanContentDelta),
 * null when it is not a plain content delta.
 */
export function scanContentDeltaBytes(buf: Buffer, start: number, end: number): string | null | undefined {
  let close: number; // index of the choices array's `]`
  if (bytesAt(buf, end - USAGE_NULL_END.length, USAGE_NULL_END, start)) close = end - USAGE_NULL_END.length - 1;
  else if (bytesAt(buf, end - 2, ARRAY_END, start)) close = end - 2;
  else return undefined;
  if (buf[close] !== 93 /* ] */) return undefined;
  let q = -1; // the content's closing quote
  for (let t = 0; t < CHOICE_TAILS.length; t++) {
    const tail = CHOICE_TAILS[t]!;
    if (bytesAt(buf, close - tail.length, tail, start)) {
      q = close - tail.length - 1;
      break;
    }
  }
  if (q < start || buf[q] !== 34 /* " */ || backslashesBefore(buf, q, start) % 2 !== 0) return undefined;
  // Inside a JSON string every quote is escaped (an odd run of backslashes before it), so the
  // first unescaped quote back from the end opens the string. UTF-8 continuation bytes are
  // >= 0x80: they never look like a quote or a backslash.
  let escapes = false;
  let p = q - 1;
  for (; p >= start; p--) {
    const c = buf[p];
    if (c === 92) escapes = true;
    else if (c === 34 && backslashesBefore(buf, p, start) % 2 === 0) break;
  }
  if (p < start || !bytesAt(buf, p + 1 - HEAD_BYTES.length, HEAD_BYTES, start)) return undefined;
  if (!escapes) return buf.toString('utf8', p + 1, q);
  try {
    return JSON.parse(buf.toString('utf8', p, q + 1)) as string;
  } catch {
    return null;
  }
}
