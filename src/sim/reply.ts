/**
 * What the simulator answers with, before any I/O: a {@link SimReply} is either a JSON body sent
 * after a delay, or a generator of {@link SimStep}s that the front ends ({@link import('./handler.js')},
 * {@link import('./server.js')}) write and wait out. Also the builders every endpoint shares:
 * ids, headers, a JSON reply, an OpenAI-shaped error.
 */

/** A string: one SSE frame to write; a number: milliseconds to wait before the next step. */
export type SimStep = string | number;

/** A whole JSON answer, sent once `delayMs` has passed. */
export interface SimJsonReply {
  kind: 'json';
  status: number;
  headers: Record<string, string>;
  body: string;
  /** wait this long (ms) before answering */
  delayMs: number;
}

/** A streamed answer: the front end pulls `frames` one step at a time. */
export interface SimStreamReply {
  kind: 'stream';
  status: 200;
  headers: Record<string, string>;
  frames: Generator<SimStep, void, undefined>;
}

/** What {@link import('./route.js').simRoute} returns for one request. */
export type SimReply = SimJsonReply | SimStreamReply;

let idPrefix = '';
let idCounter = 0;
/** Unique-enough ids: a random per-process prefix (made on first use) and a counter. */
export function nextId(): string {
  if (idPrefix === '') idPrefix = Math.floor(Math.random() * 0x7fffffff).toString(36).padStart(6, '0');
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return 'sim' + idPrefix + idCounter.toString(36);
}

function jsonHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', 'x-request-id': 'req_' + nextId() };
}

/** Headers of an SSE answer (a fresh `x-request-id` each). */
export function streamHeaders(): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-request-id': 'req_' + nextId(),
  };
}

/** A JSON reply of `body`, answered after `delayMs`. */
export function json(status: number, body: unknown, delayMs = 0): SimJsonReply {
  return { kind: 'json', status, headers: jsonHeaders(), body: JSON.stringify(body), delayMs };
}

/** An OpenAI-shaped error reply. */
export function simError(
  status: number,
  message: string,
  param: string | null = null,
  code: string | null = null,
  type = 'invalid_request_error',
): SimJsonReply {
  return json(status, { error: { message, type, param, code } });
}

/**
 * An Anthropic-shaped error reply: `{type:'error', error:{type, message}, request_id}`. `type` is
 * Anthropic's (`invalid_request_error` 400, `not_found_error` 404 …).
 */
export function anthropicError(status: number, message: string, type = 'invalid_request_error'): SimJsonReply {
  const requestId = 'req_' + nextId();
  const r = json(status, { type: 'error', error: { type, message }, request_id: requestId });
  r.headers['request-id'] = requestId;
  return r;
}

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
};

/** A Gemini-shaped error reply: `{error:{code, message, status}}` (google.rpc.Status). */
export function geminiError(status: number, message: string): SimJsonReply {
  return json(status, { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN' } });
}
