/**
 * Where an upstream request goes: the URL parsed once into connection and request-line parts.
 */

/** A parsed request target. */
export interface Target {
  protocol: string;
  /** Without IPv6 brackets (what a socket connects to). */
  hostname: string;
  port: string;
  path: string;
  auth?: string;
  /** The Host header's value (RFC 9110 §7.2): as the URL spells it, brackets and port kept. */
  host: string;
}

/**
 * Parses URLs into request options, remembering the recent ones: the same few (a base URL plus
 * `/chat/completions`) come back on every request, and parsing one and turning it into request
 * options cost ~1.5% of the proxy's CPU per JSON request (bench/profile.ts --scenario json).
 * Bounded: cleared when full.
 */
export function targetCache(max = 256): (url: string) => Target {
  const seen = new Map<string, Target>();
  return (url) => {
    let t = seen.get(url);
    if (t !== undefined) return t;
    const u = new URL(url);
    t = { protocol: u.protocol, hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname, port: u.port, path: u.pathname + u.search, host: u.host };
    if (u.username || u.password) t.auth = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
    if (seen.size >= max) seen.clear();
    seen.set(url, t);
    return t;
  };
}

