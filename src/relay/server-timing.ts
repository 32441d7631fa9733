import type { Exchange } from './exchange.js';

/**
 * The `server-timing` header (README "What the proxy guarantees", "Headers"): `upstream;dur=` the
 * upstream's time to first byte, `proxy;dur=` what the proxy spent itself before forwarding
 * (elapsed minus upstream wait).
 */
export function serverTiming(ex: Exchange, now: number): string {
  const upstream = ex.upstreamHeadersAt !== null && ex.upstreamSentAt !== null ? ex.upstreamHeadersAt - ex.upstreamSentAt : 0;
  const elapsed = now - ex.startedAt;
  const waited = ex.upstreamSentAt !== null ? (ex.upstreamEndAt ?? now) - ex.upstreamSentAt : 0;
  const proxy = Math.max(0, elapsed - waited);
  return `upstream;dur=${upstream.toFixed(2)}, proxy;dur=${proxy.toFixed(2)}`;
}
