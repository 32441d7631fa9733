/**
 * What a pass-through SSE stream (`/v1/completions`, `/v1/responses` …) tells the record, as the
 * chat observer (src/relay/chat-observer.ts) does for chat: usage (the upstream's, else the text
 * streamed, for the estimate), the finish reason, chunks and token times; and, on a completions
 * stream whose usage the proxy asked for on the caller's behalf, the usage the caller did not ask
 * for hidden again (the final `choices: []` chunk dropped, `,"usage":null` cut from every chunk).
 *
 * The common events are read without a JSON.parse (bench/README.md: parsing every chunk was the
 * relay's largest own cost): a completions text chunk in OpenAI's layout from its bytes
 * ({@link scanCompletionTextBytes}), a Responses text delta from its string. Everything else —
 * the finish chunk, the usage chunk, `response.completed`, other layouts — is parsed once and read
 * by src/usage/chunk.ts. test/integration/passthrough.test.ts checks the records.
 */
import type { Exchange } from './exchange.js';
import { UNCHANGED, type ByteObserver, type StreamObserver, type TrimTail } from './observer.js';
import { STRIP_USAGE_NULL, USAGE_NULL_TAIL } from './chat-observer.js';
import { responsesFinishReason } from './finish-reason.js';
import { inspectChunk, RESPONSES_TEXT_DELTAS } from '../usage/chunk.js';
import { closingQuote, endsWithUsageNull, stringValue } from '../usage/scan.js';
import type { UsageTracker } from '../usage/tracker.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Observes one pass-through SSE stream. */
export class PassthroughStreamObserver implements StreamObserver, ByteObserver {
  /**
   * @param hideUsage the proxy asked for `stream_options.include_usage` and the caller did not:
   *   relay what the upstream would have sent without it (src/usage/stream-options.ts).
   */
  constructor(
    private readonly ex: Exchange,
    private readonly tracker: UsageTracker,
    private readonly hideUsage: boolean,
  ) {}

  onBytes(buf: Buffer, start: number, end: number, now: number): TrimTail | null | undefined {
    const text = scanCompletionTextBytes(buf, start, end);
    if (text === undefined) return undefined;
    this.tracker.onContent(text);
    this.count(now);
    return this.hideUsage && endsWithUsageNull(buf, start, end) ? STRIP_USAGE_NULL : UNCHANGED;
  }

  onEvent(data: string, now: number): string | TrimTail | null {
    // Responses events put `type` first (OpenAI, src/sim/responses.ts). Of the `response.*` ones
    // only the text deltas and the final event matter; the others are counted unread.
    if (data.startsWith(RESPONSE_TYPE)) {
      const q = data.indexOf('"', TYPE_HEAD.length);
      if (q < 0) return this.full(data, now);
      if (data.startsWith('.delta', q - 6)) {
        // The common delta is matched in place; another's type is cut out to look it up.
        if (!data.startsWith(OUTPUT_TEXT_DELTA, TYPE_HEAD.length) && !RESPONSES_TEXT_DELTAS.has(data.slice(TYPE_HEAD.length, q))) return this.counted(data, now);
        const delta = readStringMember(data, DELTA_KEY, q);
        if (delta === null) return this.full(data, now);
        this.tracker.onContent(delta);
        return this.counted(data, now);
      }
      if (!isFinalType(data)) return this.counted(data, now);
    }
    return this.full(data, now);
  }

  private counted(data: string, now: number): string {
    this.count(now);
    return data;
  }

  private count(now: number): void {
    this.ex.chunks++;
    this.ex.markToken(now);
  }

  /** Parse the event and read all of it (src/usage/chunk.ts), as the chat observer's full path. */
  private full(data: string, now: number): string | TrimTail | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return this.counted(data, now); // not JSON: relayed untouched
    }
    const obs = inspectChunk(parsed);
    this.tracker.onChunk(obs);
    if (obs.finishReason !== null) {
      // A Responses final event reports its `status`; the record uses chat's words (src/relay/finish-reason.ts).
      const mapped = isObject(parsed) && !Array.isArray(parsed.choices) ? responsesFinishReason(parsed.response) : null;
      this.ex.finishReason = mapped ?? obs.finishReason;
    }
    let out: string | TrimTail = data;
    if (this.hideUsage && isObject(parsed)) {
      if (obs.usageOnly) return null;
      if (data.endsWith(USAGE_NULL_TAIL)) out = STRIP_USAGE_NULL;
      else if (parsed.usage === null) {
        // Another key order or spacing: rare, so re-encoded without it.
        const { usage: _usage, ...rest } = parsed;
        out = JSON.stringify(rest);
      }
    }
    if (isObject(parsed) && isObject(parsed.error)) {
      const m = parsed.error.message;
      this.ex.error = typeof m === 'string' ? m : 'upstream error event';
    }
    this.count(now);
    return out;
  }
}

const TYPE_HEAD = '{"type":"';
const RESPONSE_TYPE = TYPE_HEAD + 'response.';
const FINAL_TYPES = ['response.completed"', 'response.incomplete"', 'response.failed"', 'response.cancelled"'];
/** The event is a Responses final event (its `response` holds the usage and the status). */
function isFinalType(data: string): boolean {
  for (let i = 0; i < FINAL_TYPES.length; i++) if (data.startsWith(FINAL_TYPES[i]!, TYPE_HEAD.length)) return true;
  return false;
}
const DELTA_KEY = '"delta":"';
const OUTPUT_TEXT_DELTA = 'response.output_text.delta"';

/** The string value after `key` (which ends with its opening quote), searched from `from`; null if absent. */
function readStringMember(data: string, key: string, from: number): string | null {
  const k = data.indexOf(key, from);
  if (k < 0) return null;
  const v = k + key.length;
  const j = closingQuote(data, v);
  return j < 0 ? null : stringValue(data, v, j);
}

const HEAD = Buffer.from('"choices":[{"text":"');
/** What may follow the text's closing quote, up to the end of the choices array. */
const TAILS = [Buffer.from(',"index":0,"logprobs":null,"finish_reason":null}]'), Buffer.from(',"index":0,"finish_reason":null,"logprobs":null}]')];
const USAGE_KEY = Buffer.from('"usage"');
const ERROR_KEY = Buffer.from('"error"');

/** buf[at..] starts with `what`, within [.., end). */
function bytesAt(buf: Buffer, at: number, what: Buffer, end: number): boolean {
  if (at + what.length > end) return false;
  for (let i = 0; i < what.length; i++) if (buf[at + i] !== what[i]) return false;
  return true;
}

/** Backslashes just before `at` (an odd count escapes the byte at `at`). */
function backslashesBefore(buf: Buffer, at: number, min: number): number {
  let n = 0;
  while (at - n - 1 >= min && buf[at - n - 1] === 0x5c) n++;
  return n;
}

/**
 * The text of a `/v1/completions` chunk that carries only text, read from its bytes [start, end)
 * in OpenAI's layout (`{…,"choices":[{"text":"…","index":0,"logprobs":null,"finish_reason":null}],…}`,
 * then `,"usage":null}` or `}`); undefined for anything else (the finish chunk, usage, another
 * layout, several choices), which the caller parses. Read from the end, as chat's
 * scanContentDeltaBytes (src/usage/scan.ts): back over the few members after the choices (no
 * object, no `"usage"` or `"error"` among them), the choice's fixed tail, then the text; only the
 * text is decoded, nothing outside the event is read. As there, what comes before `choices` is
 * not looked at: an upstream that puts `usage` first is taken for a text chunk.
 */
export function scanCompletionTextBytes(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start < 2 || buf[end - 1] !== 0x7d) return undefined;
  let close = endsWithUsageNull(buf, start, end) ? end - USAGE_NULL_TAIL.length : end - 1;
  // Back to the choices array's `]`: past the members after it (`"model"`, `"system_fingerprint"` …).
  for (close--; close >= start; close--) {
    const c = buf[close];
    if (c === 0x5d) break;
    if (c === 0x7b || c === 0x7d) return undefined;
    if (c === 0x22 && (bytesAt(buf, close, USAGE_KEY, end) || bytesAt(buf, close, ERROR_KEY, end))) return undefined;
  }
  if (close < start) return undefined;
  let q = -1; // the text's closing quote
  for (const tail of TAILS) {
    if (bytesAt(buf, close + 1 - tail.length, tail, close + 1)) {
      q = close - tail.length;
      break;
    }
  }
  if (q < start || buf[q] !== 0x22 || backslashesBefore(buf, q, start) % 2 !== 0) return undefined;
  // Inside a JSON string every quote is escaped, so the first unescaped one back opens the text.
  let escapes = false;
  let p = q - 1;
  for (; p >= start; p--) {
    const c = buf[p];
    if (c === 0x5c) escapes = true;
    else if (c === 0x22 && backslashesBefore(buf, p, start) % 2 === 0) break;
  }
  if (p < start || !bytesAt(buf, p + 1 - HEAD.length, HEAD, p + 1) || p + 1 - HEAD.length < start) return undefined;
  if (!escapes) return buf.toString('utf8', p + 1, q);
  try {
    return JSON.parse(buf.toString('utf8', p, q + 1)) as string;
  } catch {
    return undefined;
  }
}
