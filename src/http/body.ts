/**
 * Request body reading with a hard size limit (over `maxBodyBytes` → 413,
 * test/integration/bad-input.test.ts) and the validation every JSON endpoint shares, the model
 * name's shape included (test/security/model-names.test.ts). Errors are ProxyErrors, rendered by
 * the one renderer.
 */
import type { IncomingMessage } from 'node:http';
import { HttpStatusError, InvalidRequestError, PayloadTooLargeError } from '../errors.js';
import { clip } from '../util/clip.js';
import { collect } from '../util/collect.js';

/** Most characters of a caller's Content-Type or parse error quoted back in a message. */
const QUOTE_MAX = 200;

/** Read the whole body, refusing (413) as soon as it passes `limitBytes`. */
export async function readRawBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  return collect(req, { limitBytes, tooLarge: () => new PayloadTooLargeError(limitBytes), complete: () => req.complete });
}

/** A JSON object body, as the chat and pass-through routes need it. */
export interface JsonBody {
  raw: Buffer;
  json: Record<string, unknown>;
}

/**
 * Read and parse a JSON object body. Content type must be JSON when given (a form-encoded body
 * from `curl -d` without `-H content-type:` is the usual mistake, so the message says how).
 */
export async function readJsonObject(req: IncomingMessage, limitBytes: number): Promise<JsonBody> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new HttpStatusError(415, `Unsupported Content-Type ${JSON.stringify(clip(type, QUOTE_MAX))}: send the body as JSON with "Content-Type: application/json".`, {
      code: 'unsupported_media_type',
    });
  }
  const raw = await readRawBody(req, limitBytes);
  if (raw.length === 0) throw new InvalidRequestError('The request body is empty: expected a JSON object.', { code: 'invalid_json' });
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    // V8's message quotes the start of the text; clipped in case another engine quotes more.
    throw new InvalidRequestError(`The request body is not valid JSON: ${clip((err as Error).message, QUOTE_MAX)}`, { code: 'invalid_json' });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InvalidRequestError('The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return { raw, json: json as Record<string, unknown> };
}

/**
 * What a model name may be: letters, digits and `. _ : / @ + -`, 1 to 256 characters. That covers
 * provider ids (`gpt-4o-2024-08-06`, `ft:gpt-4o-mini:org:name:id`, `meta-llama/Llama-3-8B`,
 * `llama3:8b`, `model@2024`, `anthropic.claude-3-haiku-20240307-v1:0`) and keeps anything the
 * proxy stores, logs or quotes per model small (test/security/model-names.test.ts).
 */
export const MODEL_NAME = /^[A-Za-z0-9._:/@+-]{1,256}$/;
/** The longest model name {@link MODEL_NAME} accepts. */
export const MODEL_NAME_MAX = 256;
/** Most characters of a refused model name quoted back in the error message. */
const MODEL_QUOTE_MAX = 64;

/** How {@link checkModelName} treats an absent `model`. */
export interface ModelNameOptions {
  /** Absent is a 400 `missing_required_parameter` (chat completions) rather than `undefined` (pass-through). */
  required: boolean;
}

/**
 * The one check of a caller's `model` value, before the proxy does anything with it (routing,
 * permissions, logs). Absent: `undefined`, or a 400 when `required`; not a string: 400
 * `invalid_type`; a string outside {@link MODEL_NAME}: 400 `invalid_model_name`, whose message
 * quotes at most the first 64 characters of it.
 */
export function checkModelName(value: unknown, opts: { required: true }): string;
export function checkModelName(value: unknown, opts: ModelNameOptions): string | undefined;
export function checkModelName(value: unknown, opts: ModelNameOptions): string | undefined {
  if (value === undefined) {
    if (!opts.required) return undefined;
    throw new InvalidRequestError('You must provide a model parameter.', { param: 'model', code: 'missing_required_parameter' });
  }
  if (typeof value !== 'string') {
    throw new InvalidRequestError('The "model" parameter must be a string.', { param: 'model', code: 'invalid_type' });
  }
  // The length test first: the pattern never scans more than a name's worth of a huge string.
  if (value.length > MODEL_NAME_MAX || !MODEL_NAME.test(value)) {
    const length = value.length > MODEL_QUOTE_MAX ? ` (${value.length} characters)` : '';
    throw new InvalidRequestError(
      `Invalid model name ${JSON.stringify(clip(value, MODEL_QUOTE_MAX))}${length}: a model name is 1 to ${MODEL_NAME_MAX} ` +
        'characters, each a letter, a digit or one of . _ : / @ + -',
      { param: 'model', code: 'invalid_model_name' },
    );
  }
  return value;
}

/** The `model` field of a chat completion: required, and a valid name ({@link checkModelName}). */
export function requireModel(json: Record<string, unknown>): string {
  return checkModelName(json.model, { required: true });
}

/** Validate the chat-completions fields the proxy relies on (`messages`, `stream`). */
export function validateChatBody(json: Record<string, unknown>): void {
  const messages = json.messages;
  if (messages === undefined) {
    throw new InvalidRequestError("Missing required parameter: 'messages'.", { param: 'messages', code: 'missing_required_parameter' });
  }
  if (!Array.isArray(messages)) {
    throw new InvalidRequestError("Invalid type for 'messages': expected an array.", { param: 'messages', code: 'invalid_type' });
  }
  if (json.stream !== undefined && json.stream !== null && typeof json.stream !== 'boolean') {
    throw new InvalidRequestError("Invalid type for 'stream': expected a boolean.", { param: 'stream', code: 'invalid_type' });
  }
}
