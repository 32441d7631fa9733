/**
 * What the proxy keeps of an upstream response's head, and how a non-2xx answer becomes an error
 * for the caller (issue 2: same status, OpenAI-shaped body unchanged, `Retry-After` kept).
 */
import { UpstreamStatusError, isOpenAIErrorBody, type OpenAIErrorBody } from '../errors.js';
import type { UpstreamHeaders, UpstreamResponse } from '../upstream/transport.js';
import { collect } from '../util/collect.js';

/** Response headers that describe the upstream's answer and are worth relaying to the caller. */
const RELAYED = /^(openai-|x-ratelimit-|retry-after|anthropic-|x-request-id$)/;

/** Upstream headers to copy onto the caller's response (never hop-by-hop ones). */
export function relayedHeaders(h: UpstreamHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, name) => {
    if (RELAYED.test(name) && name !== 'x-request-id') out[name] = value;
  });
  return out;
}

/** Largest error body read from an upstream. */
const MAX_ERROR_BODY = 64 * 1024;

/** Read a non-2xx upstream answer into the error the caller gets. */
export async function errorFromUpstream(res: UpstreamResponse, upstreamName: string): Promise<UpstreamStatusError> {
  let text = '';
  try {
    text = await readCapped(res, MAX_ERROR_BODY);
  } catch {
    /* a body that breaks mid-read still yields the status */
  }
  let body: OpenAIErrorBody | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isOpenAIErrorBody(parsed)) body = parsed;
  } catch {
    /* not JSON: wrapped below */
  }
  if (body === null) {
    const snippet = text.trim().slice(0, 500);
    body = {
      error: {
        message: `Upstream "${upstreamName}" answered ${res.status}${snippet ? `: ${snippet}` : ''}`,
        type: res.status >= 500 ? 'upstream_error' : 'invalid_request_error',
        param: null,
        code: `upstream_${res.status}`,
      },
    };
  }
  const headers: Record<string, string> = {};
  for (const name of ['retry-after', 'retry-after-ms']) {
    const v = res.headers.get(name);
    if (v !== null) headers[name] = v;
  }
  return new UpstreamStatusError(res.status, body, headers);
}

async function readCapped(res: UpstreamResponse, max: number): Promise<string> {
  const decoder = new TextDecoder();
  let out = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    out += decoder.decode(chunk, { stream: true });
    if (out.length > max) {
      res.body.destroy();
      break;
    }
  }
  return out + decoder.decode();
}

/** Read a whole upstream body (JSON answers). */
export function readAll(res: UpstreamResponse): Promise<Buffer> {
  return collect(res.body);
}
