/**
 * Reading a simulator request body: the fields every endpoint validates (`model`, the length
 * limit, `seed`, `stream` / `stream_options`) and the prompt-size estimate. A reader returns the
 * value, or the OpenAI-shaped 400 to answer with instead.
 */
import type { SimOptions } from './options.js';
import { simError, type SimJsonReply } from './reply.js';

/** A parsed JSON request body (or any JSON object inside it). */
export type Json = Record<string, unknown>;

/** A JSON object, not an array or null. */
export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Upper bound on a requested completion length (keeps a typo from streaming for hours). */
export const MAX_COMPLETION_TOKENS = 1_000_000;

/** Characters of a message `content` / `input` value: a string or an array of text parts. */
export function textChars(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const p of v) {
      if (typeof p === 'string') n += p.length;
      else if (isObj(p)) {
        if (typeof p.text === 'string') n += p.text.length;
        else if (p.content !== undefined) n += textChars(p.content);
      }
    }
    return n;
  }
  return 0;
}

/** Prompt tokens for `chars` characters: ceil(chars / 4), at least 1. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** How many tokens to produce. */
export interface Length {
  n: number;
  /** the request set the limit (→ finish_reason "length") */
  explicit: boolean;
}

/**
 * The completion length: the first of `names` the body sets (validated), else
 * `opts.defaultMaxTokens`.
 */
export function readLength(body: Json, names: readonly string[], opts: SimOptions): Length | SimJsonReply {
  for (const name of names) {
    const v = body[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      return simError(400, `Invalid '${name}': expected an integer of at least 1, got ${JSON.stringify(v)}.`, name, 'invalid_value');
    }
    if (v > MAX_COMPLETION_TOKENS) {
      return simError(400, `'${name}' is too large: ${v}. The simulator supports at most ${MAX_COMPLETION_TOKENS} completion tokens.`, name, 'invalid_value');
    }
    return { n: v, explicit: true };
  }
  return { n: Math.max(0, Math.floor(opts.defaultMaxTokens)), explicit: false };
}

/** The text seed: `seed` as a string when it is a number or a string. */
export function readSeed(body: Json): string | undefined {
  const s = body.seed;
  return typeof s === 'number' || typeof s === 'string' ? String(s) : undefined;
}

/** The `model`, required and non-empty. */
export function readModel(body: Json): string | SimJsonReply {
  const m = body.model;
  if (typeof m !== 'string' || m === '') return simError(400, 'you must provide a model parameter', 'model', 'missing_required_parameter');
  return m;
}

/** `stream`, `stream_options.include_usage`, or an error when stream_options come without stream. */
export function readStream(body: Json): { stream: boolean; includeUsage: boolean } | SimJsonReply {
  const stream = body.stream === true;
  const so = body.stream_options;
  if (so !== undefined && so !== null && !stream) {
    return simError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options', 'invalid_value');
  }
  return { stream, includeUsage: stream && isObj(so) && so.include_usage === true };
}
