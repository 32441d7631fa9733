/**
 * Upstream event streams that use every framing the HTML standard allows
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * CR, LF or CRLF line ends, a BOM, comments, `id`/`event`/`retry` and unknown fields, `data:`
 * without its space, one event over several `data:` lines, and a last event that the stream's end
 * closes instead of a blank line. Used by test/unit/sse-reframe.test.ts (the relay stages, every
 * split) and test/integration/line-clients.test.ts (real line-reading clients).
 *
 * And the reading side: what a plain line-reading client checks (each `data: ` line whole JSON or
 * `[DONE]`) and the text it puts together.
 */

/** The API whose events a wire carries. */
export type WireKind = 'chat' | 'completions' | 'responses';
export type LineEnd = '\n' | '\r' | '\r\n';
/** How the last event ends: a blank line, its last line end only, or nothing at all (the stream just closes). */
export type LastEnd = 'blank' | 'eol' | 'none';

export interface WireOptions {
  eol: LineEnd;
  bom?: boolean;
  last?: LastEnd;
}

/** Text pieces with what JSON must escape, several UTF-8 lengths, and a U+2028. */
export const CONTENTS = ['Hel', 'lo, ', 'wörld ', '日本語 ', '🚀 "quoted" ', 'back\\slash ', 'line\nbreak ', 'tab\t', '\u2028sep', ' end.'];

/** One event's JSON object for `kind`, carrying `text`. */
export function deltaObject(kind: WireKind, text: string, i: number): Record<string, unknown> {
  if (kind === 'chat') {
    return { id: 'chatcmpl-w', object: 'chat.completion.chunk', created: 1700000000, model: 'up-1', choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }] };
  }
  if (kind === 'completions') return { id: 'cmpl-w', object: 'text_completion', created: 1700000000, model: 'up-1', choices: [{ text, index: 0, logprobs: null, finish_reason: null }] };
  return { type: 'response.output_text.delta', item_id: 'msg_w', output_index: 0, content_index: 0, delta: text, sequence_number: i };
}

/** The Responses API's last event (it sends no `[DONE]`). */
export const RESPONSE_COMPLETED = { type: 'response.completed', response: { id: 'resp_w', status: 'completed', usage: { input_tokens: 3, output_tokens: 10, total_tokens: 13 } } };

/** The field lines of one event, framed in one of six ways (by `i`). */
function eventLines(kind: WireKind, obj: unknown, i: number): string[] {
  const json = JSON.stringify(obj);
  // Pretty-printed JSON: its line breaks sit between tokens, as an upstream's multi-line data would.
  const pretty = JSON.stringify(obj, null, 1).split('\n');
  const name = kind === 'responses' ? [`event: ${(obj as { type: string }).type}`] : [];
  switch (i % 6) {
    case 0: return [...name, `data: ${json}`];
    case 1: return [...name, `data:${json}`]; // no space after the colon
    case 2: return [': a comment inside the block', `id: ${i}`, ...name, `data: ${json}`];
    case 3: return [...(name.length > 0 ? name : ['event: message']), 'foo: an unknown field', 'retry: 3000', `data: ${json}`];
    case 4: return [...name, ...pretty.map((l) => `data: ${l}`)];
    default: return [...name, 'id', ...pretty.map((l) => `data:${l}`)]; // a field name without a colon; no spaces
  }
}

/** A whole upstream body: a comment, one event per content piece, then `[DONE]` (or response.completed). */
export function buildWire(kind: WireKind, contents: readonly string[], o: WireOptions): string {
  const { eol } = o;
  const blocks: string[][] = [[': ping']];
  contents.forEach((c, i) => blocks.push(eventLines(kind, deltaObject(kind, c, i), i)));
  blocks.push(kind === 'responses' ? eventLines(kind, RESPONSE_COMPLETED, 0) : ['data: [DONE]']);
  let out = o.bom ? '\uFEFF' : '';
  blocks.forEach((lines, b) => {
    out += lines.join(eol);
    const last = b === blocks.length - 1 ? (o.last ?? 'blank') : 'blank';
    if (last === 'blank') out += eol + eol;
    else if (last === 'eol') out += eol;
  });
  return out;
}

/** The text a client puts together from one event's parsed data. */
export function textOf(kind: WireKind, data: unknown): string {
  const d = data as { choices?: Array<{ delta?: { content?: string }; text?: string }>; type?: string; delta?: string };
  if (kind === 'chat') return d.choices?.[0]?.delta?.content ?? '';
  if (kind === 'completions') return d.choices?.[0]?.text ?? '';
  return d.type === 'response.output_text.delta' ? (d.delta ?? '') : '';
}

/** What a line-reading client made of a response body's lines. */
export interface LineRead {
  /** Every `data: ` payload, in order. */
  payloads: string[];
  /** Those that are neither JSON nor `[DONE]`. */
  broken: string[];
  /** Lines holding a CR (a line reader splitting on LF only would pass it on). */
  withCr: string[];
  text: string;
  sawDone: boolean;
  /** The last event's `type` (Responses API). */
  lastType: string | undefined;
}

/** Read `lines` as a line-by-line client does: each `data: ` line parsed as JSON on its own. */
export function readLines(kind: WireKind, lines: readonly string[]): LineRead {
  const r: LineRead = { payloads: [], broken: [], withCr: [], text: '', sawDone: false, lastType: undefined };
  for (const line of lines) {
    if (line.includes('\r')) r.withCr.push(line);
    if (!line.startsWith('data: ')) continue;
    const p = line.slice('data: '.length);
    r.payloads.push(p);
    if (p === '[DONE]') {
      r.sawDone = true;
      continue;
    }
    let data: unknown;
    try {
      data = JSON.parse(p);
    } catch {
      r.broken.push(p);
      continue;
    }
    r.text += textOf(kind, data);
    r.lastType = (data as { type?: string }).type;
  }
  return r;
}
