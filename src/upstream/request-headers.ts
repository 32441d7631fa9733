/**
 * Headers sent upstream. An allowlist, not the caller's headers minus a few: anything else a caller
 * sends could steer the proxy's own account — `OpenAI-Organization` / `OpenAI-Project` pick which
 * organisation and project the upstream key bills (test/security/forwarding.test.ts). Forwarded:
 * content negotiation, the SDKs' identification and telemetry, idempotency, documented provider
 * feature headers, and what the upstream's `forwardHeaders` adds. Never forwarded, even when
 * listed there: hop-by-hop headers (RFC 9110 §7.6.1, and those named in `Connection`), the
 * caller's credentials (the upstream gets its own key), headers the proxy owns, and
 * account-selecting headers — those come from the upstream's configured `headers` only.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamConfig } from '../config/schema.js';
import { providerOf } from '../providers/registry.js';

/** Caller headers forwarded to every upstream (`x-stainless-*` too: {@link STAINLESS}). */
const BUILT_IN = [
  // content negotiation: the relay sets `accept` itself where it relies on one (chat)
  'accept', 'content-type', 'content-encoding',
  // who is calling (OpenAI SDKs, curl …) and OpenAI's opt-in API versions (Assistants v2 …)
  'user-agent', 'openai-beta',
  // a retried POST is not done twice upstream
  'idempotency-key',
  // Anthropic's documented version and feature-flag headers (its OpenAI-compatible endpoint)
  'anthropic-version', 'anthropic-beta',
];

/** The OpenAI SDKs' telemetry headers (`x-stainless-lang`, `x-stainless-retry-count` …), by prefix. */
const STAINLESS = 'x-stainless-';

/**
 * Names that `forwardHeaders` cannot add. `x-request-id` is the proxy's own (the caller's when it
 * is sane, see src/http/request-context.ts), and so are `accept-encoding` and the framing headers.
 */
const NEVER = new Set([
  // hop-by-hop
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
  // recomputed or owned by the proxy
  'host', 'content-length', 'accept-encoding', 'expect', 'x-request-id',
  // the caller's credentials stay here (OpenAI, Azure, Anthropic, Google, AWS, gateways)
  'authorization', 'x-api-key', 'api-key', 'cookie', 'x-goog-api-key', 'x-amz-security-token',
  'helicone-auth', 'x-portkey-api-key', 'cf-aig-authorization',
  // account-selecting: which organisation, project or billing account the upstream key spends
  'openai-organization', 'openai-project', 'x-goog-user-project', 'x-portkey-virtual-key',
]);

/** The forwardable names per upstream: built once per (frozen) upstream config. */
const allowedByUpstream = new WeakMap<UpstreamConfig, ReadonlySet<string>>();

function allowedFor(upstream: UpstreamConfig): ReadonlySet<string> {
  let allowed = allowedByUpstream.get(upstream);
  if (!allowed) {
    allowed = new Set([...BUILT_IN, ...upstream.forwardHeaders.map((n) => n.toLowerCase())].filter((n) => !NEVER.has(n)));
    allowedByUpstream.set(upstream, allowed);
  }
  return allowed;
}

/** Build the upstream request headers. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  upstream: UpstreamConfig,
  requestId: string,
  opts: { accept?: string; contentType?: string } = {},
): Record<string, string> {
  const allowed = allowedFor(upstream);
  const out: Record<string, string> = {};
  // Headers named in `Connection` are hop-by-hop too.
  const connection = incoming.connection;
  const hop = typeof connection === 'string' ? connection.toLowerCase().split(',').map((s) => s.trim()) : null;
  for (const name in incoming) {
    if (!allowed.has(name) && !name.startsWith(STAINLESS)) continue;
    const value = incoming[name];
    if (value === undefined || (hop !== null && hop.includes(name))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  for (const [name, value] of Object.entries(upstream.headers)) out[name.toLowerCase()] = value;
  if (opts.contentType) out['content-type'] = opts.contentType;
  if (opts.accept) out['accept'] = opts.accept;
  // Identity: relaying compressed bytes would make the proxy decompress to observe them.
  out['accept-encoding'] = 'identity';
  out['x-request-id'] = requestId;
  // The provider's credential header when there is a key (the caller's never reaches here, NEVER
  // above); its version header when the caller sent none (a caller's `anthropic-version` wins),
  // key or not (a gateway in front of the provider may add the key itself).
  const auth = providerOf(upstream).authHeaders(upstream.apiKey);
  for (const name in auth) {
    if (NEVER.has(name) ? upstream.apiKey !== '' : out[name] === undefined) out[name] = auth[name]!;
  }
  return out;
}
