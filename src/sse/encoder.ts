// Canonical SSE output frames: LF line ends only, "field: value", one blank line ends a frame.
// Pure, no I/O. Field names and rules: HTML Living Standard, "Server-sent events",
// https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream

export const DONE_FRAME = 'data: [DONE]\n\n';

// Relayed upstream events go out with their data on ONE line (encodeRelayed), because the clients
// of an OpenAI-compatible API read `data:` lines, not events: a plain line reader (okhttp's
// `readUtf8Line()` loop, httpx's `iter_lines()`) parses each `data: ` line as JSON, so an event
// spread over several lines reaches it as pieces that do not parse (test/integration/line-clients.test.ts).
//
// The rule, for every payload: each line break (CR, LF or CRLF; the parser hands over LF only)
// becomes ONE SPACE.
// - JSON: a raw line break can only be whitespace between tokens (a JSON string cannot hold a raw
//   control character), and a space is whitespace too, so the JSON value is unchanged and a JSON
//   text stays JSON. Removing the break instead would be just as exact for valid JSON, but would
//   glue tokens: `1` LF `2` (not JSON) would become `12` (JSON) — a space never changes whether
//   a text is JSON.
// - Not JSON: the same rule, nothing else. Its lines are joined with a space and relayed as text,
//   as a one-line non-JSON payload is: the caller's client decides. (Wrapping it as a JSON string
//   would hand a chunk-parsing client a string where it expects an object, and hide that the
//   upstream sent something else.)
// The standard itself joins data lines with LF (HTML "dispatch the event"), so a browser's
// EventSource sees a space where the upstream had a line break: in JSON the same value.

// CR, LF and CRLF all end a line in an event stream, so each is a line break inside a value.
const LINE_END = /\r\n|\r|\n/;

function hasLineEnd(s: string): boolean {
  return s.indexOf('\n') !== -1 || s.indexOf('\r') !== -1;
}

/** `prefix` before every line of `text`, each line ended by LF (no blank line added). */
function prefixedLines(prefix: string, text: string): string {
  return `${prefix}${text.split(LINE_END).join(`\n${prefix}`)}\n`;
}

/**
 * 'data: <payload>\n\n'. A payload with line breaks becomes one `data:` line per line, which a parser
 * joins back with LF: the payload round-trips byte-for-byte when its line breaks are LF (CR and CRLF
 * come back as LF; an event stream cannot carry a CR inside data).
 */
export function encodeData(payload: string): string {
  if (!hasLineEnd(payload)) return `data: ${payload}\n\n`;
  return `${prefixedLines('data: ', payload)}\n`;
}

/**
 * A full frame: `event:`, `id:`, `retry:` (each when given), then the data lines, then a blank line.
 * An empty `event` is omitted (the standard treats it as the default type "message"); an empty `id` is
 * written, since it resets the client's last event ID.
 * @throws TypeError if `event` or `id` contains CR or LF, `id` contains NUL (the client would ignore it),
 *   or `retry` is not a non-negative integer.
 */
export function encodeEvent(e: { data: string; event?: string; id?: string; retry?: number }): string {
  const { data, event, id, retry } = e;
  let head = '';
  if (event !== undefined && event !== '') {
    if (hasLineEnd(event)) throw new TypeError('SSE event name must not contain CR or LF');
    head += `event: ${event}\n`;
  }
  if (id !== undefined) {
    if (hasLineEnd(id)) throw new TypeError('SSE id must not contain CR or LF');
    if (id.indexOf('\0') !== -1) throw new TypeError('SSE id must not contain NUL');
    head += `id: ${id}\n`;
  }
  if (retry !== undefined) {
    if (!Number.isSafeInteger(retry) || retry < 0) throw new TypeError('SSE retry must be a non-negative integer');
    head += `retry: ${retry}\n`;
  }
  return head + encodeData(data);
}

/** `text` with each line break (CR, LF or CRLF) replaced by one space: see the rule above. */
export function joinLines(text: string): string {
  if (!hasLineEnd(text)) return text;
  return text.split(LINE_END).join(' ');
}

/**
 * The frame a relayed upstream event goes out as: `event:` and `id:` when the upstream sent them,
 * then exactly one `data:` line (its lines joined by {@link joinLines}) and a blank line. LF only.
 */
export function encodeRelayed(e: { data: string; event?: string; id?: string }): string {
  const data = joinLines(e.data);
  if (e.event === undefined && e.id === undefined) return `data: ${data}\n\n`;
  return encodeEvent({ data, event: e.event, id: e.id });
}

/** ': <text>\n\n'; a multi-line comment gets one ':' line per line. Dispatches nothing at the client. */
export function encodeComment(text: string): string {
  if (!hasLineEnd(text)) return `: ${text}\n\n`;
  return `${prefixedLines(': ', text)}\n`;
}
