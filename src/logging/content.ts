/**
 * Content logging (`logging.content` / `LOG_CONTENT=true`, off by default): the record's
 * `content` holds the request's messages and the reassembled assistant message (content, tool
 * calls), each bounded by `logging.contentMaxChars`. Before it is truncated, every string is
 * scrubbed of configured secrets and credential-shaped text (`secrets.ts`), and the configured
 * `logging.redactPaths` are censored in the request body (`redact-paths.ts`).
 */
import type { Config } from '../config/schema.js';
import type { RequestRecord } from '../events/types.js';
import { redactPaths } from './redact-paths.js';
import { configSecrets, scrubText } from './secrets.js';

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

/** Request body fields that are content (chat, completions, responses, embeddings). */
const CONTENT_FIELDS = ['messages', 'prompt', 'input', 'instructions'] as const;

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
