/**
 * The usage contract for streams (README "What the proxy guarantees": usage, always): the proxy
 * always asks the upstream for `stream_options.include_usage: true`, and remembers whether the
 * caller asked itself, so the relay can drop the usage-only chunk again and the caller sees exactly
 * what OpenAI would send.
 */

export interface UsageRequest {
  /** The body to send upstream. The caller's own object when nothing had to change. */
  body: Record<string, unknown>;
  /** The caller sent `stream_options.include_usage: true` (relay the usage chunk unchanged). */
  callerAsked: boolean;
}

/**
 * Ask for usage in a chat/completions request body. Never mutates `body`; the other
 * `stream_options` the caller sent (e.g. `include_obfuscation`) are kept.
 *
 * Left unchanged — same object, so the relay can forward the original bytes — when the caller
 * already asked, and when `stream` is not `true`: OpenAI rejects `stream_options` on non-stream
 * requests with a 400, and non-stream bodies carry `usage` anyway. Not for `/v1/responses`, whose
 * streams always end with usage in `response.completed`.
 */
export function requestUsage(body: Record<string, unknown>): UsageRequest {
  const own = streamOptions(body);
  const callerAsked = own !== null && own.include_usage === true;
  if (callerAsked || body.stream !== true) return { body, callerAsked };
  return { body: { ...body, stream_options: { ...own, include_usage: true } }, callerAsked };
}

/** The caller's own `stream_options.include_usage: true` (whether the usage chunk is theirs to see). */
export function callerAskedUsage(body: Record<string, unknown>): boolean {
  return streamOptions(body)?.include_usage === true;
}

function streamOptions(body: Record<string, unknown>): Record<string, unknown> | null {
  const opts = body.stream_options;
  return typeof opts === 'object' && opts !== null && !Array.isArray(opts) ? (opts as Record<string, unknown>) : null;
}

const ASK_USAGE = Buffer.from('"stream_options":{"include_usage":true},');

/**
 * The request bytes with `"stream_options":{"include_usage":true}` added as the object's first
 * member: what {@link requestUsage} asks for when the caller sent no `stream_options` at all,
 * without serialising the whole body again (JSON.stringify of the request was ~13 µs of every
 * stream's CPU before its first upstream byte, bench/profile.ts). `raw` must be the bytes
 * of a JSON object with at least one member and no `stream_options` key (the caller checks the
 * parsed body); null when the bytes do not look like that.
 */
export function spliceUsageRequest(raw: Buffer): Buffer | null {
  let i = 0;
  // Only JSON whitespace (RFC 8259 §2) may come before the object and its first member.
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x09 || raw[i] === 0x0a || raw[i] === 0x0d)) i++;
  if (raw[i] !== 0x7b /* { */) return null;
  let j = i + 1;
  while (j < raw.length && (raw[j] === 0x20 || raw[j] === 0x09 || raw[j] === 0x0a || raw[j] === 0x0d)) j++;
  if (raw[j] !== 0x22 /* " a member follows */) return null;
  return Buffer.concat([raw.subarray(0, i + 1), ASK_USAGE, raw.subarray(i + 1)]);
}
