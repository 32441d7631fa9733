/**
 * The usage contract for streams (issue 3): the proxy always asks the upstream for
 * `stream_options.include_usage: true`, and remembers whether the caller asked itself, so the
 * relay can drop the usage-only chunk again and the caller sees exactly what OpenAI would send.
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
  const opts = body.stream_options;
  const own = typeof opts === 'object' && opts !== null && !Array.isArray(opts) ? (opts as Record<string, unknown>) : null;
  const callerAsked = own !== null && own.include_usage === true;
  if (callerAsked || body.stream !== true) return { body, callerAsked };
  return { body: { ...body, stream_options: { ...own, include_usage: true } }, callerAsked };
}
