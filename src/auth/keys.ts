/**
 * Client keys (README "Keys"): who is calling, which models they may use, and their limits.
 *
 * - The secret is read from `Authorization: Bearer <key>` only — that is what the OpenAI SDKs
 *   send. `x-api-key` (Anthropic's header) is deliberately not accepted: one header means one
 *   place to redact, and no client we target needs a second.
 * - Every configured secret is kept only as its SHA-256 digest (config gives the plain key,
 *   usually `${DEMO_API_KEY}`, or the digest as `sha256`). A presented key is hashed and compared
 *   with `crypto.timingSafeEqual` against *every* configured digest, with no early exit, so the
 *   time taken says neither which key matched nor how much of a secret was right (hashing first
 *   also makes the comparison length-independent).
 * - The {@link ClientKey} handed out has no secret and no digest: name, limits, models, admin,
 *   api. No error built here mentions the presented key.
 * - An admin key is admin-only unless its config says `api: true` ({@link KeyStore.requireApiKey}):
 *   it is the credential operators type into the dashboard, and should not also be able to spend
 *   the upstream account on every model. Ordinary keys may call the API unless `api: false`
 *   (test/security/hardening.test.ts).
 * - With no keys configured, auth is off (README "Security model"; the default bind is 127.0.0.1):
 *   `authenticate` returns {@link ANONYMOUS_KEY} for any header, which has no limits, every
 *   model, and admin rights — whoever can reach the port may do everything, as documented.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientKeyConfig, LimitsConfig } from '../config/schema.js';
import { AuthenticationError, PermissionDeniedError } from '../errors.js';
import { compileGlob } from '../glob.js';

/** An authenticated caller, as the rest of the proxy sees it. Holds no secret. */
export interface ClientKey {
  /** The configured name: the `key` label in metrics and logs. */
  readonly name: string;
  readonly limits: LimitsConfig;
  /** Model globs this key may use; undefined = all models. */
  readonly models: readonly string[] | undefined;
  /** The spend budget this key draws on (config `budgets`), if any. */
  readonly budget?: string | undefined;
  /** May read /admin/events and the dashboard's data. */
  readonly admin: boolean;
  /** May call the API (/v1). Config `api`, defaulting to `!admin`. */
  readonly api: boolean;
  /** Its streams are resumable unless a request says otherwise (config `resumable`). */
  readonly resumable?: boolean;
}

export interface KeyStore {
  /** False when no keys are configured: auth is off and every request is {@link ANONYMOUS_KEY}. */
  readonly enabled: boolean;
  /** The key for an `Authorization` header value, or null when it is missing or wrong. */
  authenticate(authorization: string | undefined): ClientKey | null;
  /** Like {@link authenticate}, but throws the 401 to render (message says missing vs wrong, never the key). */
  requireKey(authorization: string | undefined): ClientKey;
  /**
   * The API gate (/v1): like {@link requireKey}, and throws the 403 `api_access_not_allowed` for
   * a valid key whose `api` is false (an admin-only key).
   */
  requireApiKey(authorization: string | undefined): ClientKey;
  /** May `key` use `model`? (Globs: `*` any run of characters, `?` one.) */
  isModelAllowed(key: ClientKey, model: string): boolean;
  /** Throws the 403 to render when `key` may not use `model`. */
  requireModel(key: ClientKey, model: string): void;
}

/** The caller when auth is off (no keys configured). */
export const ANONYMOUS_KEY: ClientKey = Object.freeze({
  name: 'anonymous',
  limits: Object.freeze({}),
  models: undefined,
  admin: true,
  api: true,
});

/** OpenAI's wording for a request without a key. */
const MISSING_KEY_MESSAGE =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
/** OpenAI echoes a masked key here; we echo nothing. */
const WRONG_KEY_MESSAGE = 'Incorrect API key provided.';

/** The 403 for an admin-only key on /v1: says why and how to allow it (names the key, never its secret). */
const apiNotAllowed = (name: string): PermissionDeniedError =>
  new PermissionDeniedError(
    `The API key "${name}" is admin-only: it may read /admin/events and the dashboard, but not call the API. ` +
      'To allow it, set "api: true" on this key in the proxy config.',
    { code: 'api_access_not_allowed' },
  );

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, surrounding
 * blanks ignored), or null when the header is absent or not Bearer.
 */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1]! : null;
}

/**
 * Build the key store from validated config.
 * @throws Error when two keys share a name or a secret (names only in the message).
 */
export function createKeyStore(keys: readonly ClientKeyConfig[]): KeyStore {
  const digests: Buffer[] = [];
  const clientKeys: ClientKey[] = [];
  const byName = new Map<string, number>();
  for (const k of keys) {
    if (byName.has(k.name)) throw new Error(`client keys: the name "${k.name}" is used twice`);
    const digest = k.sha256 !== undefined ? Buffer.from(k.sha256, 'hex') : sha256(k.key ?? '');
    const twin = digests.findIndex((d) => d.equals(digest));
    if (twin >= 0) throw new Error(`client keys: "${clientKeys[twin]!.name}" and "${k.name}" have the same secret`);
    byName.set(k.name, digests.length);
    digests.push(digest);
    clientKeys.push(
      Object.freeze({
        name: k.name,
        limits: k.limits,
        models: k.models === undefined ? undefined : Object.freeze([...k.models]),
        ...(k.budget !== undefined ? { budget: k.budget } : {}),
        admin: k.admin,
        api: k.api ?? !k.admin,
        ...(k.resumable ? { resumable: true } : {}),
      }),
    );
  }
  const enabled = clientKeys.length > 0;

  // Compiled model globs per key object (keys from elsewhere, e.g. tests, compile on first use).
  const matchers = new WeakMap<ClientKey, RegExp[]>();
  const matchersOf = (key: ClientKey): RegExp[] => {
    let m = matchers.get(key);
    if (!m) matchers.set(key, (m = (key.models ?? []).map(compileGlob)));
    return m;
  };

  const authenticate = (authorization: string | undefined): ClientKey | null => {
    if (!enabled) return ANONYMOUS_KEY;
    const token = bearerToken(authorization);
    if (token === null) return null;
    const presented = sha256(token);
    let found = -1;
    for (let i = 0; i < digests.length; i++) {
      // Check every key: no early exit on the first match or mismatch.
      const equal = timingSafeEqual(presented, digests[i]!);
      found = equal && found < 0 ? i : found;
    }
    return found < 0 ? null : clientKeys[found]!;
  };

  const isModelAllowed = (key: ClientKey, model: string): boolean =>
    key.models === undefined || matchersOf(key).some((re) => re.test(model));

  const requireKey = (authorization: string | undefined): ClientKey => {
    const key = authenticate(authorization);
    if (key) return key;
    throw new AuthenticationError(bearerToken(authorization) === null ? MISSING_KEY_MESSAGE : WRONG_KEY_MESSAGE);
  };

  return {
    enabled,
    authenticate,
    requireKey,
    requireApiKey(authorization) {
      const key = requireKey(authorization);
      if (!key.api) throw apiNotAllowed(key.name);
      return key;
    },
    isModelAllowed,
    requireModel(key, model) {
      if (!isModelAllowed(key, model)) {
        throw new PermissionDeniedError(`The API key "${key.name}" is not allowed to use the model "${model}".`, {
          param: 'model',
        });
      }
    },
  };
}
