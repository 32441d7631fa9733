// Canonical SSE output frames: LF line ends only, "field: value", one blank line ends a frame.
// Pure, no I/O. Field names and rules: HTML Living Standard, "Server-sent events",
// https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream

export const DONE_FRAME = 'data: [DONE]\n\n';

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

/** ': <text>\n\n'; a multi-line comment gets one ':' line per line. Dispatches nothing at the client. */
export function encodeComment(text: string): string {
  if (!hasLineEnd(text)) return `: ${text}\n\n`;
  return `${prefixedLines(': ', text)}\n`;
}
