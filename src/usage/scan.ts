/**
 * A fast path for the most common upstream event, a plain content delta
 * (`{"id":…,"choices":[{"index":0,"delta":{"content":"…"},…}],…}`), read by string scanning
 * instead of `JSON.parse`. Parsing every chunk was the largest single cost of the relay in the
 * profile (bench/profile.ts: ~12% of the proxy's CPU, issue 6). Anything else — usage,
 * finish_reason, tool calls, reasoning, refusals, errors, several `content` keys — returns null
 * and takes the full parse (src/usage/chunk.ts `inspectChunk`), so the scan only has to be right
 * for the simple shape. Pure.
 */

/** Markers that need the full parse (each is rare: once per stream, or a tool/reasoning stream). */
const NEEDS_PARSE = ['"usage":{', '"finish_reason":"', '"tool_calls"', '"function_call"', '"reasoning', '"refusal":"', '"error"', '"audio"'];

const CONTENT_KEY = '"content":';

/**
 * The content text of a plain content-delta chunk, or null when the chunk needs the full parse.
 * `''` for a delta without text (the role chunk's `"content":""`, or `"content":null`).
 */
export function scanContentDelta(data: string): string | null {
  // JSON from an upstream may put spaces after colons; then the markers below would miss.
  if (data.charCodeAt(0) !== 123 /* { */ || data.includes('": ')) return null;
  for (let i = 0; i < NEEDS_PARSE.length; i++) if (data.includes(NEEDS_PARSE[i]!)) return null;
  const at = data.indexOf(CONTENT_KEY);
  if (at < 0) return data.includes('"choices":[') ? '' : null;
  if (data.indexOf(CONTENT_KEY, at + CONTENT_KEY.length) >= 0) return null; // several choices: parse
  const v = at + CONTENT_KEY.length;
  if (data.startsWith('null', v)) return '';
  if (data.charCodeAt(v) !== 34 /* " */) return null;
  // Inside a JSON string a quote is always escaped, so the first unescaped quote ends it.
  let escaped = false;
  for (let j = v + 1; j < data.length; j++) {
    const c = data.charCodeAt(j);
    if (escaped) escaped = false;
    else if (c === 92 /* \ */) escaped = true;
    else if (c === 34) {
      const raw = data.slice(v + 1, j);
      if (raw.indexOf('\\') < 0) return raw;
      try {
        return JSON.parse(data.slice(v, j + 1)) as string;
      } catch {
        return null;
      }
    }
  }
  return null;
}
