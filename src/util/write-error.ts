/**
 * Write an OpenAI-shaped JSON error on a raw node:http response. Lives in src/util/ (not
 * src/http/) because both the HTTP routes and the relay (src/relay/caller.ts) write errors this
 * way, and the relay may not import src/http (.dependency-cruiser.cjs, docs/ARCHITECTURE.md).
 */
import type { ServerResponse } from 'node:http';
import { toOpenAIError } from '../errors.js';

/**
 * Write an error as OpenAI's JSON on a raw response whose head is not out yet (routes that take
 * over the socket from Koa). Rendering itself is {@link toOpenAIError}, the one renderer.
 * Returns the status written.
 */
export function writeJsonError(res: ServerResponse, err: unknown, extraHeaders: Record<string, string> = {}): number {
  return writeRendered(res, toOpenAIError(err), extraHeaders);
}

/** Write an error already rendered by {@link toOpenAIError}. Returns the status written. */
export function writeRendered(res: ServerResponse, rendered: ReturnType<typeof toOpenAIError>, extraHeaders: Record<string, string> = {}): number {
  const body = JSON.stringify(rendered.body);
  res.writeHead(rendered.status, {
    ...extraHeaders,
    ...rendered.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
  return rendered.status;
}
