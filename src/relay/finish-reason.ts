/**
 * The request record's `finishReason` for answers the chat stream observer does not see: a
 * non-streaming chat answer (read from its bytes), a pass-through JSON body, and the Responses
 * API, whose answers say `status` instead. Pure.
 *
 * Responses → chat vocabulary (so one metric label means one thing across endpoints):
 * - `completed` → `stop`, or `tool_calls` when the output holds a `function_call` item (what chat
 *   says for the same answer);
 * - `incomplete` → its `incomplete_details.reason`: `max_output_tokens` → `length`,
 *   `content_filter` as is, any other reason as the upstream wrote it, none → `length`;
 * - `failed` → `error`; `cancelled` → `cancelled`; other statuses (`in_progress`, `queued`) → null.
 * test/integration/passthrough.test.ts checks `stop` and `length` against the simulator.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The finish reason of a Responses API `response` object (a body, or `response` of its final event). */
export function responsesFinishReason(response: unknown): string | null {
  if (!isObject(response)) return null;
  switch (response.status) {
    case 'completed':
      return Array.isArray(response.output) && response.output.some((o) => isObject(o) && o.type === 'function_call') ? 'tool_calls' : 'stop';
    case 'incomplete': {
      const reason = isObject(response.incomplete_details) ? response.incomplete_details.reason : undefined;
      if (reason === 'max_output_tokens' || typeof reason !== 'string') return 'length';
      return reason;
    }
    case 'failed':
      return 'error';
    case 'cancelled':
      return 'cancelled';
    default:
      return null;
  }
}

/** A parsed non-streaming answer: `choices[0].finish_reason` (chat, completions) or the Responses `status`. */
export function finishReasonFromBody(parsed: unknown): string | null {
  if (!isObject(parsed)) return null;
  if (Array.isArray(parsed.choices)) {
    const first: unknown = parsed.choices[0];
    return isObject(first) && typeof first.finish_reason === 'string' ? first.finish_reason : null;
  }
  return parsed.object === 'response' ? responsesFinishReason(parsed) : null;
}

const KEY = Buffer.from('"finish_reason"');

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The first `"finish_reason"` member's string value in the JSON text `buf`, without decoding or
 * parsing the answer: `choices[0]`'s in a chat completion, whatever the key order, since a choice's
 * members come before the next choice's. Inside a JSON string every quote is escaped, so an
 * unescaped `"finish_reason"` followed by `:` is a key. Costs one native byte search over the
 * answer up to that key (the message text) and a decode of the value: ~1.0 µs on a 1.5 KB answer
 * where decoding and parsing it took ~5.5 µs (a tsx loop of 10⁶ calls on the dev machine); the
 * usage beside it still comes from the tail (src/usage/tail-usage.ts).
 * Null for `null`, a value with escapes, or no such key.
 */
export function scanFinishReason(buf: Buffer): string | null {
  let at = buf.indexOf(KEY);
  while (at >= 0) {
    let bs = 0;
    while (at - bs - 1 >= 0 && buf[at - bs - 1] === 0x5c) bs++;
    let i = at + KEY.length;
    while (isSpace(buf[i])) i++;
    if (bs % 2 === 0 && buf[i] === 0x3a /* : */) {
      i++;
      while (isSpace(buf[i])) i++;
      if (buf[i] !== 0x22) return null;
      const end = buf.indexOf(0x22, i + 1);
      if (end < 0) return null;
      const value = buf.toString('utf8', i + 1, end);
      return value.includes('\\') ? null : value;
    }
    at = buf.indexOf(KEY, at + KEY.length);
  }
  return null;
}
