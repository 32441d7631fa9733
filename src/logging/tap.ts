/**
 * The per-request hook the chat relay calls on each upstream event: one debug line per event
 * when debug is on, content capture (the assistant message, for `content.ts`) when content
 * logging is on, and null (one null check per event) when neither is.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { truncate, type AssistantMessage, type ToolCallRecord } from './content.js';
import { configSecrets, scrubText } from './secrets.js';

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

  /**
   * Whether every event must come parsed ({@link onEvent}): only for the debug line. Content
   * capture alone takes plain content deltas through {@link onContentDelta}, read without a
   * JSON.parse (content logging cost 1.5x the CPU per stream that way).
   */
  get wantsParsedEvents(): boolean {
    return this.debug !== null;
  }

  /** A plain content delta (`choices[0].delta` is `{"content": …}` alone), already read. */
  onContentDelta(content: string): void {
    this.events++;
    if (this.maxChars !== null && content !== '') this.content += this.take(content);
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
