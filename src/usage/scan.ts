/**
 * A fast path for the most common upstream event, a plain content delta in OpenAI's key order
 * (`{…,"choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]…}`),
 * read by checking fixed markers instead of `JSON.parse` (issue 6: parsing every chunk was the
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
  // Inside a JSON string a quote is always escaped, so the first unescaped quote ends it.
  let j = v;
  let escapes = false;
  for (; j < data.length; j++) {
    const c = data.charCodeAt(j);
    if (c === 34 /* " */) break;
    if (c === 92 /* \ */) {
      escapes = true;
      j++;
    }
  }
  if (j >= data.length) return null;
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
  if (!escapes) return data.slice(v, j);
  try {
    return JSON.parse(data.slice(v - 1, j + 1)) as string;
  } catch {
    return null;
  }
}
