/**
 * The request target, checked before any route sees it. Pure: imports nothing of the app.
 *
 * The proxy forwards paths to upstreams, so a path that an upstream or a server in between could
 * read differently from the proxy is refused outright (400) rather than normalised:
 * - only origin-form (`/path?query`, RFC 9112 §3.2.1); absolute-form (`http://host/path`) and
 *   asterisk-form are not for an origin server's API;
 * - no dot segments (`.`/`..`, RFC 3986 §3.3), plain or percent-encoded (`%2e`): resolving them
 *   would climb out of `/v1` on the upstream (test/security/paths.test.ts);
 * - no encoded slash (`%2f`) or backslash (`\`, `%5c`): servers split segments on them differently;
 * - no empty segment (`//`): the routes are strict, and some servers collapse it.
 */
import { InvalidRequestError } from '../errors.js';

/** Why a request target is refused, or null when it is fine. */
export function targetProblem(url: string): string | null {
  if (url.charCodeAt(0) !== 0x2f /* / */) return 'the request target must be a path starting with "/"';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path.length === 1) return null;
  if (path.includes('\\')) return 'the path must not contain a backslash';
  if (path.includes('%')) {
    const lower = path.toLowerCase();
    if (lower.includes('%2e')) return 'the path must not contain a percent-encoded dot';
    if (lower.includes('%2f') || lower.includes('%5c')) return 'the path must not contain an encoded slash or backslash';
  }
  if (path.includes('//')) return 'the path must not contain an empty segment ("//")';
  // Segments "." and "..": bounded by "/" or the end.
  for (let i = path.indexOf('/.'); i >= 0; i = path.indexOf('/.', i + 1)) {
    const after = path.charCodeAt(i + 2);
    if (Number.isNaN(after) || after === 0x2f) return 'the path must not contain dot segments ("." or "..")';
    if (after === 0x2e /* . */) {
      const next = path.charCodeAt(i + 3);
      if (Number.isNaN(next) || next === 0x2f) return 'the path must not contain dot segments ("." or "..")';
    }
  }
  return null;
}

/** Throws the 400 for a target {@link targetProblem} refuses. */
export function checkTarget(url: string): void {
  const problem = targetProblem(url);
  if (problem !== null) throw new InvalidRequestError(`Invalid request path: ${problem}.`, { code: 'invalid_path' });
}
