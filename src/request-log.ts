/**
 * One log record per request, at its end (issue 5), from the bus's `request.end` — and the
 * optional content capture that goes into it.
 *
 * - {@link logFields}: the record as logged (the per-token gaps summarised, not listed);
 *   {@link feedFields}: the same minus content, for the live feed.
 * - Content logging (`logging.content` / `LOG_CONTENT=true`, off by default): the request's
 *   messages and the reassembled assistant message (content, tool calls), each bounded by
 *   `logging.contentMaxChars`. Before it is truncated, every string is scrubbed of configured
 *   secrets (client keys, upstream keys, the metrics token) and credential-shaped text, and the
 *   configured `logging.redactPaths` are censored in the request body.
 * - {@link createUpstreamTap}: the per-request hook the chat relay calls on each upstream event —
 *   one debug line per event when debug is on, content capture when content logging is on, and
 *   null (one null check per event) when neither is.
 */
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { EventBus } from './events/bus.js';
import type { EndReason, RequestRecord } from './events/types.js';
import { CENSOR, scrubSecrets } from './logging.js';

/** The record as logged: the per-token gaps are summarised, not listed. */
export function logFields(r: RequestRecord): Record<string, unknown> {
  const { interTokenMs, ...rest } = r;
  const out: Record<string, unknown> = rest;
  let sum = 0;
  let max = 0;
  for (const gap of interTokenMs) {
    sum += gap;
    if (gap > max) max = gap;
  }
  out.interTokenMsMean = interTokenMs.length > 0 ? round(sum / interTokenMs.length) : null;
  out.interTokenMsMax = interTokenMs.length > 0 ? round(max) : null;
  out.tokensPerSecond = tokensPerSecond(r);
  if (r.content !== undefined) {
    // Last, so the scalar fields come first when a person reads the line.
    delete out.content;
    out.content = r.content;
  }
  return out;
}

/** The record as the live feed publishes it: {@link logFields} without content, ever. */
export function feedFields(r: RequestRecord): Record<string, unknown> {
  const out = logFields(r);
  delete out.content;
  return out;
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

/** Log level of a request record: upstream and proxy failures warn, callers' own outcomes are info. */
export function levelFor(reason: EndReason, status: number): 'info' | 'warn' {
  switch (reason) {
    case 'upstream_error':
    case 'upstream_truncated':
    case 'idle_timeout':
    case 'shutdown':
      return 'warn';
    case 'error':
      return status >= 500 ? 'warn' : 'info';
    default:
      return 'info';
  }
}

/** Subscribe the request log. Returns an unsubscribe function. */
export function attachRequestLog(bus: EventBus, logger: Logger): () => void {
  return bus.on('request.end', (r) => {
    logger[levelFor(r.endReason, r.status)](logFields(r), 'request');
  });
}

// ---------------------------------------------------------------------------------------------
// Content capture

/** A tool call of the assistant message, as logged. */
export interface ToolCallRecord {
  id?: string;
  name: string;
  arguments: string;
}

/** The assistant message reassembled from a stream or read from a JSON answer. */
export interface AssistantMessage {
  content: string;
  toolCalls: ToolCallRecord[];
  /** Characters not captured because the capture budget was spent. */
  truncatedChars: number;
}

/** Most tool calls kept per answer. */
const MAX_TOOL_CALLS = 64;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Per-request hook on upstream events (chat relay). Holds at most `maxChars` of captured text
 * (a little more for the truncation count), whatever the answer's length.
 */
export class UpstreamTap {
  private events = 0;
  private content = '';
  private contentDropped = 0;
  private readonly calls: ToolCallRecord[] = [];
  private capturedChars = 0;

  constructor(
    /** Logger for the per-event debug line; null when debug is off. */
    private readonly debug: Logger | null,
    private readonly requestId: string,
    /** Capture budget in characters; null when content logging is off. */
    private readonly maxChars: number | null,
    /** Known secrets scrubbed from logged payloads. */
    private readonly secrets: readonly string[] = [],
  ) {}

  /** One upstream stream event: `data` as received, `parsed` its JSON (undefined when not JSON). */
  onEvent(data: string, parsed: unknown, upstream: string | null): void {
    this.events++;
    const choice = firstChoice(parsed, 'delta');
    if (this.maxChars !== null && choice) this.captureDelta(choice);
    if (this.debug) {
      const finish = isObject(parsed) && Array.isArray(parsed.choices) && isObject(parsed.choices[0]) ? parsed.choices[0].finish_reason : undefined;
      this.debug.debug(
        {
          requestId: this.requestId,
          upstream,
          n: this.events,
          bytes: data.length,
          ...(typeof finish === 'string' ? { finishReason: finish } : {}),
          ...(isObject(parsed) && isObject(parsed.usage) ? { usage: parsed.usage } : {}),
          // The payload is content: only with content logging on, and bounded.
          ...(this.maxChars !== null ? { data: truncate(scrubText(data, this.secrets), this.maxChars) } : {}),
        },
        'upstream event',
      );
    }
  }

  /** A whole JSON answer (stream: false). */
  onBody(parsed: unknown, upstream: string | null): void {
    this.events++;
    const message = firstChoice(parsed, 'message');
    if (this.maxChars !== null && message) this.captureDelta(message);
    if (this.debug) {
      this.debug.debug({ requestId: this.requestId, upstream, n: this.events, body: true }, 'upstream event');
    }
  }

  /** The assistant message captured so far (strings bounded by `maxChars` each). */
  message(): AssistantMessage {
    return { content: this.content, toolCalls: this.calls, truncatedChars: this.contentDropped };
  }

  private take(s: string): string {
    const room = Math.max(0, (this.maxChars ?? 0) - this.capturedChars);
    if (s.length <= room) {
      this.capturedChars += s.length;
      return s;
    }
    this.capturedChars += room;
    this.contentDropped += s.length - room;
    return s.slice(0, room);
  }

  /** A chat `delta` (stream) or `message` (JSON): content appended, tool calls merged by index. */
  private captureDelta(d: Record<string, unknown>): void {
    if (typeof d.content === 'string' && d.content !== '') this.content += this.take(d.content);
    if (typeof d.refusal === 'string' && d.refusal !== '') this.content += this.take(d.refusal);
    if (!Array.isArray(d.tool_calls)) return;
    for (let i = 0; i < d.tool_calls.length; i++) {
      const tc: unknown = d.tool_calls[i];
      if (!isObject(tc)) continue;
      const index = typeof tc.index === 'number' ? tc.index : i;
      if (index < 0 || index >= MAX_TOOL_CALLS) continue;
      let call = this.calls[index];
      if (!call) {
        call = { name: '', arguments: '' };
        while (this.calls.length < index) this.calls.push({ name: '', arguments: '' });
        this.calls[index] = call;
      }
      if (typeof tc.id === 'string') call.id = tc.id;
      const fn = tc.function;
      if (isObject(fn)) {
        if (typeof fn.name === 'string') call.name += fn.name;
        if (typeof fn.arguments === 'string') call.arguments += this.take(fn.arguments);
      }
    }
  }
}

/** `choices[0][field]` of a chunk or answer, when it is an object. */
function firstChoice(parsed: unknown, field: 'delta' | 'message'): Record<string, unknown> | null {
  if (!isObject(parsed) || !Array.isArray(parsed.choices)) return null;
  const c: unknown = parsed.choices[0];
  if (!isObject(c)) return null;
  const v = c[field];
  return isObject(v) ? v : null;
}

/** The tap for one request, or null when neither debug logging nor content logging is on. */
export function createUpstreamTap(deps: { logger: Logger; config: Config }, requestId: string): UpstreamTap | null {
  const debug = deps.logger.isLevelEnabled('debug');
  const content = deps.config.logging.content;
  if (!debug && !content) return null;
  return new UpstreamTap(debug ? deps.logger : null, requestId, content ? deps.config.logging.contentMaxChars : null, content ? configSecrets(deps.config) : []);
}

/** Request body fields that are content (chat, completions, responses, embeddings). */
const CONTENT_FIELDS = ['messages', 'prompt', 'input', 'instructions'] as const;

/** Secrets known from config, cached per (frozen) config object. */
const secretsByConfig = new WeakMap<Config, string[]>();

/** Every secret the config holds in plain text (client keys, upstream keys, the metrics token). */
export function configSecrets(config: Config): string[] {
  let s = secretsByConfig.get(config);
  if (!s) {
    s = [
      ...config.keys.map((k) => k.key ?? ''),
      ...Object.values(config.upstreams).map((u) => u.apiKey),
      config.metrics.token ?? '',
    ].filter((v) => v.length >= 4);
    secretsByConfig.set(config, s);
  }
  return s;
}

/**
 * Scrub known secrets from a request's error texts (an upstream's error message may echo what it
 * was sent, the caller's body included). Only runs over texts that are there: free on success.
 */
export function scrubErrors(ex: { error: string | null; attempts: Array<{ error: string | null }> }, config: Config): void {
  if (ex.error === null && ex.attempts.every((a) => a.error === null)) return;
  const secrets = configSecrets(config);
  if (ex.error !== null) ex.error = scrubText(ex.error, secrets);
  for (const a of ex.attempts) if (a.error !== null) a.error = scrubText(a.error, secrets);
}

/** `s` with every known secret and credential-shaped text replaced by the censor. */
export function scrubText(s: string, secrets: readonly string[]): string {
  for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(CENSOR);
  return scrubSecrets(s);
}

/**
 * Build the record's `content` (content logging on): the request's content fields with
 * `redactPaths` censored, and the assistant's answer; each side bounded by `contentMaxChars`.
 * `answer` is the reassembled message (chat) or the relayed text (other endpoints).
 */
export function contentForLog(config: Config, body: Record<string, unknown>, answer: AssistantMessage | string): NonNullable<RequestRecord['content']> {
  const max = config.logging.contentMaxChars;
  const secrets = configSecrets(config);
  const picked: Record<string, unknown> = {};
  for (const f of CONTENT_FIELDS) if (body[f] !== undefined) picked[f] = body[f];
  // The bounded copy is ours to mutate: censor the configured paths (relative to the body) in it.
  const request = redactPaths(boundedCopy(picked, max, secrets), config.logging.redactPaths);
  const said: Record<string, unknown> = typeof answer === 'string' ? { content: answer } : { content: answer.content };
  if (typeof answer !== 'string' && answer.toolCalls.length > 0) said.toolCalls = answer.toolCalls;
  const response = boundedCopy(said, max, secrets);
  if (typeof answer !== 'string' && answer.truncatedChars > 0) response.truncatedChars = answer.truncatedChars;
  return { request, response };
}

/**
 * Copy `value` with strings scrubbed, then cut so that all strings together hold at most `max`
 * characters; a cut string ends with `…[+N chars]`, and an array cut short with `…[+N items]`.
 */
export function boundedCopy(value: Record<string, unknown>, max: number, secrets: readonly string[]): Record<string, unknown> {
  const budget = { left: max };
  const copy = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      // Scrub first: a cut must never leave a secret's prefix that no longer matches.
      const s = scrubText(v, secrets);
      if (s.length <= budget.left) {
        budget.left -= s.length;
        return s;
      }
      const keep = budget.left;
      budget.left = 0;
      return truncate(s, keep);
    }
    if (typeof v !== 'object' || v === null) return v;
    if (depth > 16) return '…[too deep]';
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        if (budget.left === 0 && i > 0) {
          out.push(`…[+${v.length - i} items]`);
          break;
        }
        out.push(copy(v[i], depth + 1));
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = copy(x, depth + 1);
    return out;
  };
  return copy(value, 0) as Record<string, unknown>;
}

/** `s` cut to `max` characters (not inside a surrogate pair), with how much was cut. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let keep = max;
  const c = s.charCodeAt(keep - 1);
  if (keep > 0 && c >= 0xd800 && c <= 0xdbff) keep--;
  return `${s.slice(0, keep)}…[+${s.length - keep} chars]`;
}

/**
 * Parse a redact path: `a.b`, `a.*.b`, `a[*].b`, `a[0]`, `a["x-y"]`, `a['x']` (pino's syntax;
 * the same paths go to pino, which refuses a malformed one when the logger is built at start-up).
 * @throws Error on a path it cannot read.
 */
export function parsePath(path: string): string[] {
  const segs: string[] = [];
  const re = /\.?([^.[\]"']+)|\[(?:"([^"]*)"|'([^']*)'|(\*|\d+))\]/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path)) !== null) segs.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  if (re.lastIndex !== path.length || segs.length === 0) throw new Error(`cannot read redact path "${path}"`);
  return segs;
}

/** Censor every value at `paths` in `obj` (mutates and returns it); `*` matches any key or index. */
export function redactPaths(obj: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  for (const p of paths) {
    let segs: string[];
    try {
      segs = parsePath(p);
    } catch {
      continue;
    }
    censorAt(obj, segs, 0);
  }
  return obj;
}

function censorAt(node: unknown, segs: readonly string[], i: number): void {
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  const seg = segs[i]!;
  const keys = seg === '*' ? Object.keys(o) : Object.prototype.hasOwnProperty.call(o, seg) ? [seg] : [];
  for (const k of keys) {
    if (i === segs.length - 1) o[k] = CENSOR;
    else censorAt(o[k], segs, i + 1);
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
