/**
 * The common Gemini stream event read without `JSON.parse`: one candidate whose content is one
 * text part (Gemini API "Generate content" > streaming: each event carries what is new), e.g.
 * `{"candidates": [{"content": {"parts": [{"text": "…"}],"role": "model"},"index": 0}],"usageMetadata": …}`.
 * Google's JSON may put spaces between tokens, so the layout is matched token by token with
 * whitespace skipped; keys must come in this order, and anything else (a thought, a function call,
 * a finish reason, several parts or candidates, other keys) returns null and takes the parse.
 * What follows the candidates array (usage, model version, response id) is handed back unread: the
 * stream keeps only the latest usage, so it is parsed once, at the end (./stream.ts). A parse per
 * event was the adapter's largest cost (bench/translate.bench.ts). Pure.
 */
import { closingQuote, stringValue } from '../../usage/scan.js';

/** The text of a one-text-part event, and where the rest of the top-level object starts (at its `,` or `}`). */
export interface FastText {
  text: string;
  rest: number;
}

const HEAD = ['{', '"candidates"', ':', '[', '{', '"content"', ':', '{', '"parts"', ':', '[', '{', '"text"', ':', '"'];
const AFTER_TEXT = ['}', ']', ',', '"role"', ':', '"model"', '}'];
const INDEX_0 = [',', '"index"', ':', '0'];
const CANDIDATES_END = ['}', ']'];

/** Position after `tokens` matched in order from `at` (whitespace between them skipped), or -1. */
function tokens(data: string, at: number, list: readonly string[]): number {
  let i = at;
  for (const t of list) {
    while (i < data.length && isSpace(data.charCodeAt(i))) i++;
    if (!data.startsWith(t, i)) return -1;
    i += t.length;
  }
  return i;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** The event's text, or null when it is not exactly one candidate (index 0) with one text part. */
export function fastText(data: string): FastText | null {
  const v = tokens(data, 0, HEAD);
  if (v < 0) return null;
  const q = closingQuote(data, v);
  if (q < 0) return null;
  let i = tokens(data, q + 1, AFTER_TEXT);
  if (i < 0) return null;
  const withIndex = tokens(data, i, INDEX_0);
  if (withIndex >= 0) i = withIndex;
  i = tokens(data, i, CANDIDATES_END);
  if (i < 0) return null;
  while (i < data.length && isSpace(data.charCodeAt(i))) i++;
  const c = data.charCodeAt(i);
  if (c !== 44 /* , */ && c !== 125 /* } */) return null;
  const text = stringValue(data, v, q);
  return text === null ? null : { text, rest: i };
}
