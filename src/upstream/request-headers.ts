/**
 * Headers sent upstream (issue 2): the caller's headers minus hop-by-hop ones (RFC 9110 §7.6.1)
 * and minus the caller's credentials — the upstream's own key is used instead, never the
 * caller's `Authorization`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamConfig } from '../config/schema.js';

const DROPPED = new Set([
  // hop-by-hop
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
  // recomputed or owned by the proxy
  'host', 'content-length', 'accept-encoding', 'expect',
  // the caller's credentials stay here
  'authorization', 'x-api-key', 'api-key', 'cookie',
]);

/** Build the upstream request headers. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  upstream: UpstreamConfig,
  requestId: string,
  opts: { accept?: string; contentType?: string } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  // Headers named in `Connection` are hop-by-hop too.
  const connection = incoming.connection;
  const alsoDropped = typeof connection === 'string' ? connection.toLowerCase().split(',').map((s) => s.trim()) : [];
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || DROPPED.has(name) || alsoDropped.includes(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  for (const [name, value] of Object.entries(upstream.headers)) out[name.toLowerCase()] = value;
  if (opts.contentType) out['content-type'] = opts.contentType;
  if (opts.accept) out['accept'] = opts.accept;
  // Identity: relaying compressed bytes would make the proxy decompress to observe them.
  out['accept-encoding'] = 'identity';
  out['x-request-id'] = requestId;
  if (upstream.apiKey) out['authorization'] = `Bearer ${upstream.apiKey}`;
  return out;
}
