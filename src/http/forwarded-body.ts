/**
 * Which bytes of a JSON body go upstream. The proxy checks the key's model allowlist against the
 * `model` it parsed (JSON.parse keeps the last of duplicate keys); an upstream whose parser keeps
 * the first, or that reads an escaped key (`"mod\u0065l"`) differently, must not be handed bytes
 * that name another model. When the bytes hold `"model"` twice, or any `\u` escape, the proxy's own
 * reading is re-encoded and forwarded instead; otherwise the bytes received pass as they are
 * (no re-encoding on the hot path). test/security/paths.test.ts sends both kinds.
 */

const MODEL_KEY = Buffer.from('"model"');
const ESCAPE = Buffer.from('\\u');

/** The body to forward for `raw`, parsed as `json`. */
export function forwardedBody(raw: Buffer, json: Record<string, unknown>): Buffer {
  const first = raw.indexOf(MODEL_KEY);
  const twice = first >= 0 && raw.indexOf(MODEL_KEY, first + MODEL_KEY.length) >= 0;
  return twice || raw.indexOf(ESCAPE) >= 0 ? Buffer.from(JSON.stringify(json), 'utf8') : raw;
}
