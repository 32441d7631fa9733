/**
 * Request body reading with a hard size limit (issue 2: over `maxBodyBytes` → 413) and the
 * validation every JSON endpoint shares. Errors are ProxyErrors, rendered by the one renderer.
 */
import type { IncomingMessage } from 'node:http';
import { HttpStatusError, InvalidRequestError, PayloadTooLargeError } from '../errors.js';
import { collect } from '../util/collect.js';

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
    throw new HttpStatusError(415, `Unsupported Content-Type "${type}": send the body as JSON with "Content-Type: application/json".`, {
      code: 'unsupported_media_type',
    });
  }
  const raw = await readRawBody(req, limitBytes);
  if (raw.length === 0) throw new InvalidRequestError('The request body is empty: expected a JSON object.', { code: 'invalid_json' });
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new InvalidRequestError(`The request body is not valid JSON: ${(err as Error).message}`, { code: 'invalid_json' });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InvalidRequestError('The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return { raw, json: json as Record<string, unknown> };
}

/** The `model` field, required and a non-empty string. */
export function requireModel(json: Record<string, unknown>): string {
  const model = json.model;
  if (model === undefined) throw new InvalidRequestError('You must provide a model parameter.', { param: 'model', code: 'missing_required_parameter' });
  if (typeof model !== 'string' || model.length === 0) {
    throw new InvalidRequestError('The "model" parameter must be a non-empty string.', { param: 'model', code: 'invalid_type' });
  }
  return model;
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
