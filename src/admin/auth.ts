/**
 * Who may read the admin feed (README "Security model"). With no client keys configured, anyone who can reach
 * the port (default bind 127.0.0.1), as for the rest of the proxy. With keys configured, a key
 * with `admin: true`, presented either way:
 *
 * - `Authorization: Bearer <admin key>` on `GET /admin/events` (curl, scripts, raw SSE clients);
 * - a session cookie, for browsers: `EventSource` cannot send headers, and a key in the URL
 *   (`?key=`) would end up in access logs and history. `POST /admin/session` with the Bearer
 *   header answers `Set-Cookie: llm_proxy_admin=<random token>; HttpOnly; SameSite=Strict;
 *   Path=/admin`. The token is random (32 bytes), held only as its SHA-256 in a bounded in-memory
 *   map, and expires after `sessionTtlMs`; a restart forgets every session (the dashboard then
 *   signs in again, see src/dashboard). `DELETE /admin/session` signs out.
 *
 * The cookie is `Secure` when the request came over HTTPS (`ctx.secure`): directly over TLS, or,
 * with `server.trustProxy`, when a TLS terminator says `X-Forwarded-Proto: https` (Koa's `proxy`
 * setting). Koa builds `ctx.cookies` with the same `secure` flag, so the `cookies` package, which
 * throws on a secure cookie over plain HTTP, always agrees with it (test/security/hardening.test.ts).
 * A valid key without `admin: true` gets 403 `admin_key_required`.
 *
 * The key check is any {@link AdminKeyCheck}; `createKeyStore(config.keys)` (src/auth/keys.ts)
 * is one.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Koa from 'koa';
import type { Clock } from '../clock.js';
import type { KeyStore } from '../auth/keys.js';
import { AuthenticationError, PermissionDeniedError } from '../errors.js';

/** The part of the key store the admin routes use. */
export type AdminKeyCheck = Pick<KeyStore, 'enabled' | 'authenticate'>;

/** The session cookie's name. */
export const SESSION_COOKIE = 'llm_proxy_admin';

/** Options for {@link AdminAccess}. */
export interface AdminAccessOptions {
  /** Session lifetime; default 12 h. */
  sessionTtlMs?: number;
  /** Most sessions held; the oldest is forgotten first. Default 1000. */
  maxSessions?: number;
  /** The session table, shared by the checks of successive configurations (a reload keeps sessions). */
  sessions?: SessionTable;
}

/** Open sessions by token digest. */
export type SessionTable = Map<string, { name: string; expiresAt: number }>;

/** An admin caller. */
export interface AdminCaller {
  name: string;
  via: 'none' | 'bearer' | 'session';
}

const MISSING =
  'An admin key is required: send "Authorization: Bearer <admin key>", or sign in on /dashboard (POST /admin/session sets a session cookie).';

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Admin authentication: Bearer key or session cookie. */
export class AdminAccess {
  readonly sessions: SessionTable;
  private readonly ttlMs: number;
  private readonly maxSessions: number;

  constructor(
    private readonly keys: AdminKeyCheck,
    private readonly clock: Clock,
    opts: AdminAccessOptions = {},
  ) {
    this.sessions = opts.sessions ?? new Map();
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
    this.maxSessions = opts.maxSessions ?? 1000;
  }

  /** False when no keys are configured: the feed is open. */
  get required(): boolean {
    return this.keys.enabled;
  }

  /**
   * The caller of `ctx`, or throws the error to render: 401 without a valid key or session, 403
   * for a valid key without `admin: true`. A presented Authorization header is decisive (a wrong
   * header is not rescued by a cookie).
   */
  require(ctx: Koa.Context | Koa.ParameterizedContext<unknown>): AdminCaller {
    if (!this.required) return { name: 'anonymous', via: 'none' };
    const header = ctx.get('authorization');
    if (header !== '') return this.bearer(header);
    const session = this.lookup(ctx.cookies.get(SESSION_COOKIE));
    if (session) return { name: session, via: 'session' };
    throw new AuthenticationError(MISSING);
  }

  /** What the dashboard needs to know before connecting. */
  status(ctx: Koa.Context | Koa.ParameterizedContext<unknown>): { authRequired: boolean; authenticated: boolean; name: string | null } {
    if (!this.required) return { authRequired: false, authenticated: true, name: 'anonymous' };
    const name = this.lookup(ctx.cookies.get(SESSION_COOKIE));
    return { authRequired: true, authenticated: name !== null, name };
  }

  /** `POST /admin/session`: Bearer admin key → session cookie. Returns the caller and expiry. */
  signIn(ctx: Koa.Context | Koa.ParameterizedContext<unknown>): { name: string; expiresAt: number | null } {
    if (!this.required) return { name: 'anonymous', expiresAt: null };
    const header = ctx.get('authorization');
    if (header === '') throw new AuthenticationError(MISSING);
    const { name } = this.bearer(header);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.clock.now() + this.ttlMs;
    this.sweep();
    while (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(digest(token), { name, expiresAt });
    ctx.cookies.set(SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/admin',
      maxAge: this.ttlMs,
      secure: ctx.secure,
      overwrite: true,
    });
    return { name, expiresAt };
  }

  /** `DELETE /admin/session`: forget the session and clear the cookie. */
  signOut(ctx: Koa.Context | Koa.ParameterizedContext<unknown>): void {
    const token = ctx.cookies.get(SESSION_COOKIE);
    if (token) this.sessions.delete(digest(token));
    ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/admin', maxAge: 0, secure: ctx.secure, overwrite: true });
  }

  /** Sessions held (tests). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private bearer(header: string): AdminCaller {
    const key = this.keys.authenticate(header);
    if (!key) throw new AuthenticationError('Incorrect API key provided.');
    if (!key.admin) {
      throw new PermissionDeniedError(`The API key "${key.name}" is not an admin key: the admin routes need a key with "admin: true".`, {
        code: 'admin_key_required',
      });
    }
    return { name: key.name, via: 'bearer' };
  }

  private lookup(token: string | undefined): string | null {
    if (!token) return null;
    const d = digest(token);
    const s = this.sessions.get(d);
    if (!s) return null;
    if (s.expiresAt <= this.clock.now()) {
      this.sessions.delete(d);
      return null;
    }
    return s.name;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [d, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(d);
  }
}
