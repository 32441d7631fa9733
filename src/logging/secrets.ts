/**
 * Secrets kept out of log lines and out of what the proxy relays from an upstream: credential-
 * shaped text (any bearer token, `sk-…` key or Google API key — the logger's last net over every
 * line), and the secrets the config holds (client keys, upstream keys and header values, the
 * metrics token), scrubbed from logged content, error texts and relayed upstream errors and
 * headers (src/relay/upstream-response.ts, test/security/forwarding.test.ts).
 */
import type { Config } from '../config/schema.js';

/** The text that replaces a redacted value. */
export const CENSOR = '[redacted]';

/**
 * Credential-shaped text: a bearer token, an OpenAI-style secret key (`sk-…`, `sk-proj-…`, `sk-ant-…`,
 * also as providers echo it half-masked, `sk-abcd****wxyz`), or a Google API key (`AIza…`, 39
 * characters). Used as the last net on every line and on logged content.
 */
const SECRET_SHAPES = /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_*-]{8,}|\bAIza[A-Za-z0-9_-]{35}/gi;

/** Replace credential-shaped text in `s` (see {@link SECRET_SHAPES}). */
export function scrubSecrets(s: string): string {
  SECRET_SHAPES.lastIndex = 0;
  if (!SECRET_SHAPES.test(s)) return s;
  return s.replace(SECRET_SHAPES, (_m, bearer: string | undefined) => (bearer !== undefined ? `${bearer}${CENSOR}` : CENSOR));
}

/** Secrets known from config, cached per (frozen) config object. */
const secretsByConfig = new WeakMap<Config, string[]>();

/**
 * Upstream headers whose values are protocol versions or feature flags, not secrets: scrubbing
 * them would only blank dates like `2023-06-01` out of logged content.
 */
const PUBLIC_HEADERS = new Set(['anthropic-version', 'anthropic-beta', 'openai-beta', 'user-agent', 'accept', 'content-type']);

/** A header value and, for `<scheme> <token>` (`Bearer …`, `Token …`), the token alone: an upstream may quote either. */
function headerSecrets(name: string, value: string): string[] {
  if (PUBLIC_HEADERS.has(name.toLowerCase())) return [];
  const token = /^\S+\s+(\S+)$/.exec(value.trim());
  return token ? [value, token[1]!] : [value];
}

/**
 * Every secret the config holds in plain text: client keys, upstream keys, the values of upstream
 * `headers` (an organisation id, a gateway key), the metrics token. Longest first, so that a
 * secret containing another is replaced whole.
 */
export function configSecrets(config: Config): string[] {
  let s = secretsByConfig.get(config);
  if (!s) {
    const all = [
      ...config.keys.map((k) => k.key ?? ''),
      ...Object.values(config.upstreams).flatMap((u) => [u.apiKey, ...Object.entries(u.headers).flatMap(([n, v]) => headerSecrets(n, v))]),
      config.metrics.token ?? '',
    ].filter((v) => v.length >= 4);
    s = [...new Set(all)].sort((a, b) => b.length - a.length);
    secretsByConfig.set(config, s);
  }
  return s;
}

/** `s` with every known secret and credential-shaped text replaced by the censor. */
export function scrubText(s: string, secrets: readonly string[]): string {
  for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(CENSOR);
  return scrubSecrets(s);
}

/**
 * Scrub known secrets from a request's error texts (an upstream's error message may echo what it
 * was sent, the caller's body included). Only runs over texts that are there: free on success.
 */
export function scrubErrors(ex: { error: string | null; attempts: Array<{ error: string | null }> }, config: Config): void {
  if (ex.error === null && ex.attempts.every((a) => a.error === null)) return;
  const secrets = configSecrets(config);
  if (ex.error !== null) ex.error = scrubText(ex.error, secrets);
  for (const a of ex.attempts) if (a.error !== null) a.error = scrubText(a.error, secrets);
}
