/**
 * Text a caller (or an upstream) chose, cut to a bounded length before it goes into an error
 * message, a log line or the admin feed. Without a bound one request could put megabytes into
 * each of those (test/security/model-names.test.ts sends 3 MB model names).
 */

/**
 * Most characters of a model name in a log line or a feed event: the longest name the API
 * accepts (MODEL_NAME_MAX in src/http/body.ts), so only a name no route checked is ever cut.
 */
export const MODEL_TEXT_MAX = 256;
/** Most characters of an error text (the proxy's message or an upstream's) in a log line or a feed event. */
export const ERROR_TEXT_MAX = 512;

/** What marks a clipped text. */
export const ELLIPSIS = '…';

/**
 * `text` when it has at most `max` UTF-16 units; else its first `max` units (one fewer when the
 * cut would split a surrogate pair) followed by {@link ELLIPSIS}.
 *
 * The clipped text is a copy, not a slice: V8 keeps the whole original string alive for as long
 * as a slice of it (a "sliced string") is referenced, so a clip kept in the feed's ring would
 * otherwise pin the megabytes it was cut from.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return copy(text.slice(0, end)) + ELLIPSIS;
}

/** A fresh flat copy of a short string (see {@link clip}). */
function copy(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}
