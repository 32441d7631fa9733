/**
 * Secrets kept out of log lines (DESIGN.md "Safety", issue 5): credential-shaped text (any
 * bearer token or `sk-…` key, the logger's last net over every line), and the secrets the config
 * holds (client keys, upstream keys, the metrics token), scrubbed from logged content and error
 * texts before they reach the logger.
 */
import type { Config } from '../config/schema.js';

/** The text that replaces a redacted value. */
export const CENSOR = '[redacted]';

/**
 * Credential-shaped text: a bearer token, or an OpenAI-style secret key (`sk-…`, `sk-proj-…`).
 * Used as the last net on every line and on logged content.
 */
const SECRET_SHAPES = /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{8,}/gi;

/** Replace credential-shaped text in `s` (see {@link SECRET_SHAPES}). */
export function scrubSecrets(s: string): string {
  SECRET_SHAPES.lastIndex = 0;
  if (!SECRET_SHAPES.test(s)) return s;
  return s.replace(SECRET_SHAPES, (_m, bearer: string | undefined) => (bearer !== undefined ? `${bearer}${CENSOR}` : CENSOR));
}

/** Secrets known from config, cached per (frozen) config object. */
const secretsByConfig = new WeakMap<Config, string[]>();

/** Every secret the config holds in plain text (client keys, upstream keys, the metrics token). */
export function configSecrets(config: Config): string[] {
  let s = secretsByConfig.get(config);
  if (!s) {
    s = [
      ...config.keys.map((k) => k.key ?? ''),
      ...Object.values(config.upstreams).map((u) => u.apiKey),
      config.metrics.token ?? '',
    ].filter((v) => v.length >= 4);
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
