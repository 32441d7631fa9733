/**
 * What the proxy keeps of an upstream response's head, and how a non-2xx answer becomes an error
 * for the caller: same status, an OpenAI-shaped body (a plain-text one wrapped into that shape),
 * `Retry-After` kept. Nothing the upstream says reaches the caller unscrubbed: every configured
 * secret and credential-shaped text is replaced in relayed error texts and header values, headers
 * naming the proxy's account are dropped, and an upstream 401/403 — the upstream refusing the
 * proxy's own credentials, not the caller's — becomes 502 `upstream_authentication_failed`
 * without the upstream's text (test/security/forwarding.test.ts).
 */
import { UpstreamError, UpstreamStatusError, isOpenAIErrorBody, type OpenAIErrorBody, type ProxyError } from '../errors.js';
import { scrubText } from '../logging/secrets.js';
import type { UpstreamHeaders, UpstreamResponse } from '../upstream/transport.js';
import { collect } from '../util/collect.js';
import type { ChatProvider } from '../providers/types.js';

/** Response headers that describe the upstream's answer and are worth relaying to the caller. */
const RELAYED = /^(?:openai-|x-ratelimit-|retry-after|anthropic-)/;

/**
 * …except those that identify the proxy's account: `openai-organization`, `openai-project`,
 * `anthropic-organization-id`, and any other of the relayed families naming an organisation,
 * project, workspace or account. Tested only on the few names {@link RELAYED} lets through.
 */
const ACCOUNT = /organi[sz]ation|project|workspace|account/;

/**
 * Upstream headers to copy onto the caller's response (never hop-by-hop ones, never the
 * upstream's `x-request-id`: the proxy sets its own), values scrubbed of `secrets`.
 */
export function relayedHeaders(h: UpstreamHeaders, secrets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, name) => {
    if (RELAYED.test(name) && !ACCOUNT.test(name)) out[name] = scrubText(value, secrets);
  });
  return out;
}

/** Largest error body read from an upstream. */
const MAX_ERROR_BODY = 64 * 1024;

/** Longest part of a plain-text (non-OpenAI) error body quoted to the caller. */
const MAX_SNIPPET = 200;

/**
 * Read a non-2xx upstream answer into the error the caller gets; `secrets` (the config's, see
 * `configSecrets`) are scrubbed from every text of it. `mapError`: the upstream's provider reads its
 * own error shape (src/providers/types.ts).
 */
export async function errorFromUpstream(
  res: UpstreamResponse,
  upstreamName: string,
  secrets: readonly string[],
  mapError?: ChatProvider['errorFrom'],
): Promise<ProxyError> {
  let text = '';
  try {
    text = await readCapped(res, MAX_ERROR_BODY);
  } catch {
    /* a body that breaks mid-read still yields the status */
  }
  if (res.status === 401 || res.status === 403) {
    // The caller's key was accepted by the proxy: the upstream refused the proxy's own key (or its
    // organisation / project). The operator's problem, so 502, and the upstream's text — which
    // may quote that key — is not relayed. Another deployment may still serve (an UpstreamError
    // is retryable, and counts against this upstream's circuit).
    return new UpstreamError(
      `Upstream "${upstreamName}" refused the proxy's credentials (HTTP ${res.status}); the proxy's operator must check this upstream's API key and headers. Your API key was accepted.`,
      { code: 'upstream_authentication_failed' },
    );
  }
  let body: OpenAIErrorBody | null = null;
  let status = res.status;
  let retryAfter: number | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    // Another provider's error shape, in OpenAI's, with the status the caller should see
    // (Anthropic's 529 overloaded → 503: src/providers/anthropic/errors.ts).
    const mapped = mapError?.(res.status, parsed) ?? null;
    if (mapped !== null) {
      status = mapped.status;
      retryAfter = mapped.retryAfterSeconds;
      body = scrubbedBody({ error: { message: mapped.message, type: mapped.type, param: mapped.param, code: mapped.code } }, status, secrets);
    } else if (isOpenAIErrorBody(parsed)) body = scrubbedBody(parsed, res.status, secrets);
  } catch {
    /* not JSON: wrapped below */
  }
  if (body === null) {
    // Scrubbed whole before it is cut: a cut through a secret would leave a prefix no longer
    // recognisable as that secret.
    const snippet = cut(scrubText(text, secrets).replace(/\s+/g, ' ').trim(), MAX_SNIPPET);
    body = {
      error: {
        message: `Upstream "${upstreamName}" answered ${res.status}${snippet ? `: ${snippet}` : ''}`,
        type: defaultType(res.status),
        param: null,
        code: `upstream_${res.status}`,
      },
    };
  }
  const headers: Record<string, string> = {};
  for (const name of ['retry-after', 'retry-after-ms']) {
    const v = res.headers.get(name);
    if (v !== null) headers[name] = scrubText(v, secrets);
  }
  if (retryAfter !== undefined && headers['retry-after'] === undefined) headers['retry-after'] = String(retryAfter);
  return new UpstreamStatusError(status, body, headers);
}

function defaultType(status: number): string {
  return status >= 500 ? 'upstream_error' : 'invalid_request_error';
}

/** `s` cut to at most `max` characters, marked with an ellipsis when cut. */
function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * An upstream's OpenAI-shaped error rebuilt from its four fields, each string scrubbed. Other
 * fields (a provider's `innererror`, `details` …) are not relayed: they are unchecked text.
 */
function scrubbedBody(parsed: OpenAIErrorBody, status: number, secrets: readonly string[]): OpenAIErrorBody {
  const e = parsed.error as Record<string, unknown>;
  const field = (v: unknown): string | null =>
    typeof v === 'string' ? scrubText(v, secrets) : typeof v === 'number' ? String(v) : null;
  return {
    error: {
      message: scrubText(parsed.error.message, secrets),
      type: field(e.type) ?? defaultType(status),
      param: field(e.param),
      code: field(e.code),
    },
  };
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

/**
 * Read a whole upstream body (JSON answers), at most `limitBytes` of it: an answer whose
 * Content-Length says more, or whose bytes pass it while reading, fails with `tooLarge()` and its
 * body is destroyed at once (the connection closed: nothing more is read from that upstream).
 */
export function readAll(res: UpstreamResponse, limitBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > limitBytes) {
    res.body.destroy();
    return Promise.reject(tooLarge());
  }
  return collect(res.body, {
    limitBytes,
    tooLarge: () => {
      // Destroyed, not only paused (collect's default): what the upstream still sends is not read.
      res.body.destroy();
      return tooLarge();
    },
  });
}
