/**
 * Reading OpenAI chat messages for a request mapping (src/providers/<name>/request.ts): content
 * parts, image URLs, tool-call arguments. Anything malformed is a 400 naming its parameter. Pure.
 */
import { InvalidRequestError } from '../errors.js';

/** One OpenAI content part, as far as the mappings read it. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url: string; detail?: string };

/** A `data:` URL's media type and base64 data, or null when `url` is not a base64 data URL. */
export function dataUrl(url: string): { mediaType: string; data: string } | null {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m === null ? null : { mediaType: m[1]!, data: m[2]! };
}

/** A message's `content` (a string, null, or an array of parts) as parts; `param` names it in errors (`messages[2].content`). */
export function contentParts(content: unknown, param: string): ContentPart[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw new InvalidRequestError(`${param} must be a string or an array of content parts.`, { param, code: 'invalid_value' });
  return content.map((part: unknown, i): ContentPart => {
    const p = part as { type?: unknown; text?: unknown; image_url?: { url?: unknown; detail?: unknown } | string } | null;
    const at = `${param}[${i}]`;
    if (p !== null && typeof p === 'object' && p.type === 'text' && typeof p.text === 'string') return { type: 'text', text: p.text };
    if (p !== null && typeof p === 'object' && p.type === 'image_url') {
      const iu = p.image_url;
      const url = typeof iu === 'string' ? iu : iu?.url;
      if (typeof url !== 'string') throw new InvalidRequestError(`${at}.image_url.url must be a string.`, { param: `${at}.image_url.url`, code: 'invalid_value' });
      const detail = typeof iu === 'object' && typeof iu?.detail === 'string' ? iu.detail : undefined;
      return detail === undefined ? { type: 'image', url } : { type: 'image', url, detail };
    }
    const type = p !== null && typeof p === 'object' ? String(p.type) : typeof p;
    throw new InvalidRequestError(`${at}: content parts of type "${type}" are not supported by this provider.`, { param: `${at}.type`, code: 'unsupported_value' });
  });
}

/** The text of a content that must be text only (system, developer, tool messages). */
export function textOnly(content: unknown, param: string): string {
  const parts = contentParts(content, param);
  let out = '';
  for (const p of parts) {
    if (p.type !== 'text') throw new InvalidRequestError(`${param}: only text is accepted here.`, { param, code: 'unsupported_value' });
    out += p.text;
  }
  return out;
}

/** A tool call's `arguments` (a JSON text) as the object a provider wants. */
export function toolArguments(args: unknown, param: string): Record<string, unknown> {
  if (args === undefined || args === null || args === '') return {};
  if (typeof args !== 'string') throw new InvalidRequestError(`${param} must be a JSON string.`, { param, code: 'invalid_value' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new InvalidRequestError(`${param} is not valid JSON.`, { param, code: 'invalid_value' });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidRequestError(`${param} must be a JSON object.`, { param, code: 'invalid_value' });
  }
  return parsed as Record<string, unknown>;
}

/** Refuse `param` (400 naming it) when the caller set it to anything but one of its defaults. */
export function refuseUnlessDefault(body: Record<string, unknown>, param: string, provider: string, ...defaults: unknown[]): void {
  const v = body[param];
  if (v === undefined || v === null || defaults.some((d) => JSON.stringify(d) === JSON.stringify(v))) return;
  throw new InvalidRequestError(`The parameter "${param}" is not supported by ${provider} upstreams; leave it out or route this model to another upstream.`, {
    param,
    code: 'unsupported_parameter',
  });
}
