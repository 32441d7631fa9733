/**
 * The request record's log line, written without pino's generic serialiser
 * (bench/record-line.bench.ts; test/unit/record-line.test.ts). The line is the one pino writes for
 * `logger.info(logFields(record), 'request')` with our logger's options, byte for byte (a property
 * test compares the two over random records): the same keys in the same order, `level` and `time`
 * first, `msg` last.
 *
 * Why: pino walks the object key by key with a type switch, a per-key stringifier lookup and a
 * JSON string escape per value, plus a spread copy to drop `interToken`: 20–25 µs per request
 * in the non-streaming profile (`bench/profile.ts --scenario json`), about an eighth of the
 * proxy's CPU per request. The record's shape is fixed, so its line can be one template.
 */
import type { RequestRecord } from '../events/types.js';
import type { GapSummary } from '../events/gaps.js';
import { clip, ERROR_TEXT_MAX, MODEL_TEXT_MAX } from '../util/clip.js';

/** Characters a JSON string must escape, and lone surrogates (JSON.stringify writes those as `\u` escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal: JSON.stringify's output, without its call for the common plain string. */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function strOrNull(s: string | null): string {
  return s === null ? 'null' : str(s);
}

/** An error text as the record logs it: clipped (src/util/clip.ts), as {@link clippedFields} does. */
function errorText(s: string | null): string {
  return s === null ? 'null' : str(clip(s, ERROR_TEXT_MAX));
}

/**
 * The caller-influenced texts of a record (its model, its error texts) clipped to bounded lengths,
 * as every written form of the record carries them (this line, pino's, the admin feed's). Returns
 * `fields` itself, changed in place, so that the caller's copy keeps its key order.
 */
export function clippedFields<T extends Pick<RequestRecord, 'model' | 'error' | 'attempts'>>(fields: T): T {
  fields.model = clip(fields.model, MODEL_TEXT_MAX);
  if (fields.error !== null) fields.error = clip(fields.error, ERROR_TEXT_MAX);
  if (fields.attempts.some((a) => a.error !== null && a.error.length > ERROR_TEXT_MAX)) {
    fields.attempts = fields.attempts.map((a) => (a.error === null ? a : { ...a, error: clip(a.error, ERROR_TEXT_MAX) }));
  }
  return fields;
}

/** A number as JSON writes it (non-finite as null, as pino does). */
function num(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return 'null';
  if (n >= 0 && n < 1e9) {
    // Durations are rounded to the µs (Exchange): write their digits directly. String(n) runs
    // the shortest-round-trip search for every non-integer (~5 µs per record in the profile).
    // Below 1e9, decimals 0.001 apart are distinct doubles, so `int.frac` (trailing zeros cut)
    // is exactly what String(n) gives; anything else falls through to it.
    if (Number.isInteger(n)) return String(n);
    const k = Math.round(n * 1000);
    if (k / 1000 === n) {
      const int = Math.floor(k / 1000);
      let frac = k - int * 1000;
      let digits = 3;
      while (frac % 10 === 0) {
        frac /= 10;
        digits--;
      }
      return `${int}.${String(frac).padStart(digits, '0')}`;
    }
  } else if (Number.isSafeInteger(n) && n > 0) {
    // Epoch milliseconds (startedAt): two small integers instead of a heap number's conversion.
    const hi = Math.floor(n / 1e6);
    return `${hi}${String(n - hi * 1e6).padStart(6, '0')}`;
  }
  return String(n);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The per-token gaps as the record logs them: mean and max, ms (null without gaps). */
export function gapSummary(gaps: GapSummary): { mean: number | null; max: number | null } {
  if (gaps.count === 0) return { mean: null, max: null };
  return { mean: round(gaps.sumMs / gaps.count), max: round(gaps.maxMs) };
}

/**
 * Completion tokens per second of generation (first token to end); null when there were no
 * tokens or no first token to measure from.
 */
export function tokensPerSecond(r: RequestRecord): number | null {
  if (!r.completionTokens || r.ttftMs === null) return null;
  const generationMs = r.durationMs - r.ttftMs;
  if (generationMs <= 0) return null;
  return round((r.completionTokens * 1000) / generationMs);
}

/**
 * `{"level":…,"time":"…",<the record's fields as logFields gives them>,"msg":"request"}` and a
 * newline. `content` is not written: a record with content goes through pino (the caller checks).
 */
export function recordLine(r: RequestRecord, level: number, isoTime: string): string {
  const { mean, max } = gapSummary(r.interToken);
  let attempts = '';
  for (const a of r.attempts) {
    attempts += `${attempts === '' ? '' : ','}{"upstream":${str(a.upstream)},"status":${num(a.status)},"error":${errorText(a.error)},"durationMs":${num(a.durationMs)}}`;
  }
  return (
    `{"level":${level},"time":"${isoTime}","id":${str(r.id)},"method":${str(r.method)},"route":${str(r.route)},"key":${str(r.key)}` +
    `,"model":${str(clip(r.model, MODEL_TEXT_MAX))},"modelLabel":${str(r.modelLabel)},"upstream":${strOrNull(r.upstream)},"stream":${r.stream}` +
    `,"status":${num(r.status)},"endReason":${str(r.endReason)},"startedAt":${num(r.startedAt)},"upstreamTtfbMs":${num(r.upstreamTtfbMs)}` +
    `,"ttftMs":${num(r.ttftMs)},"durationMs":${num(r.durationMs)},"overheadMs":${num(r.overheadMs)},"chunks":${num(r.chunks)}` +
    `,"bytesOut":${num(r.bytesOut)},"promptTokens":${num(r.promptTokens)},"completionTokens":${num(r.completionTokens)}` +
    `,"tokenSource":${strOrNull(r.tokenSource)},"finishReason":${strOrNull(r.finishReason)},"attempts":[${attempts}]` +
    `,"error":${errorText(r.error)}${r.cachedTokens === undefined ? '' : `,"cachedTokens":${num(r.cachedTokens)}`}` +
    `,"interTokenMsMean":${num(mean)},"interTokenMsMax":${num(max)},"tokensPerSecond":${num(tokensPerSecond(r))}` +
    `,"msg":"request"}\n`
  );
}
