/**
 * Security review, hardening of the admin surface:
 *
 * 1. An admin key is admin-only unless its config says `api: true` (src/auth/keys.ts): on /v1 it
 *    gets 403 `api_access_not_allowed` (chat completions through the OpenAI SDK, streamed or not,
 *    a pass-through endpoint, /v1/models), while it still reads /admin/events. `api` decides
 *    either way: an admin key with `api: true` calls the API, an ordinary key with `api: false`
 *    cannot.
 * 2. A valid key without `admin: true` on an admin route gets 403 `admin_key_required`
 *    (src/admin/auth.ts), not the model error's code.
 * 3. The session cookie from `POST /admin/session` is `Secure` behind a TLS terminator when
 *    `server.trustProxy` is on and it says `X-Forwarded-Proto: https`; without trustProxy that
 *    header changes nothing.
 *
 * Each refusal is followed by a request that must still succeed. Callers: the OpenAI SDK where a
 * user would use it, `fetch` for the rest; everything on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const ADMIN = 'hardening-admin-only-key';
const ADMIN_API = 'hardening-admin-api-key';
const APP = 'hardening-app-key';
const NO_API = 'hardening-app-without-api-key';
const SECRETS = [ADMIN, ADMIN_API, APP, NO_API];

const KEYS = [
  { name: 'ops', key: ADMIN, admin: true },
  { name: 'ops-api', key: ADMIN_API, admin: true, api: true },
  { name: 'app', key: APP },
  { name: 'no-api', key: NO_API, api: false },
];

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const sdk = (proxy: TestProxy, apiKey: string): OpenAI => new OpenAI({ baseURL: proxy.baseURL, apiKey, maxRetries: 0 });

const chat = (client: OpenAI) => client.chat.completions.create({ model: 'sim-a', messages: [{ role: 'user', content: 'hi' }] });

/** Run `call`, which must fail with the SDK's PermissionDeniedError; returns it. */
async function permissionDenied(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.PermissionDeniedError>> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof OpenAI.PermissionDeniedError, `expected PermissionDeniedError, got ${String(err)}`);
    return err;
  }
  assert.fail('the call succeeded');
}

/**
 * Open the admin feed with `headers`: the status, and for a 200 the first chunk of the stream
 * (the feed starts with `feed.hello`); for anything else the error body. Bounded by a 5 s abort.
 */
async function openFeed(proxy: TestProxy, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    const res = await fetch(`${proxy.url}/admin/events`, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
    if (res.status !== 200) return { status: res.status, text: await res.text() };
    const first = await res.body!.getReader().read();
    return { status: 200, text: new TextDecoder().decode(first.value) };
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** A raw POST with a JSON body; status and parsed body. */
async function post(proxy: TestProxy, path: string, key: string, body: unknown): Promise<{ status: number; body: ErrorBody }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

const noSecretIn = (text: string): void => {
  for (const s of SECRETS) assert.equal(text.includes(s), false, 'a key was echoed');
};

describe('security: admin keys, admin routes, admin cookie', function () {
  describe('keys configured', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({ config: { keys: KEYS } });
    });
    after(async () => proxy?.close());

    it('an admin-only key gets 403 api_access_not_allowed on /v1, and still reads /admin/events', async () => {
      const admin = sdk(proxy, ADMIN);
      const err = await permissionDenied(() => chat(admin));
      assert.equal(err.status, 403);
      assert.equal(err.code, 'api_access_not_allowed');
      assert.equal(err.type, 'permission_error');
      assert.match(err.message, /"ops" is admin-only/);
      assert.match(err.message, /api: true/);
      noSecretIn(JSON.stringify(err.error) + err.message);

      // Streamed (the chat lane), the model list, and a pass-through endpoint: the same gate.
      const streamed = await permissionDenied(() =>
        admin.chat.completions.create({ model: 'sim-a', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      );
      assert.equal(streamed.code, 'api_access_not_allowed');
      assert.equal((await permissionDenied(() => admin.models.list())).code, 'api_access_not_allowed');
      const emb = await post(proxy, '/v1/embeddings', ADMIN, { model: 'sim-a', input: 'hello' });
      assert.equal(emb.status, 403);
      assert.equal(emb.body.error.code, 'api_access_not_allowed');
      assert.equal(emb.body.error.type, 'permission_error');
      noSecretIn(JSON.stringify(emb.body));

      // The same key reads the feed; the server kept serving the API to API keys.
      const feed = await openFeed(proxy, { authorization: `Bearer ${ADMIN}` });
      assert.equal(feed.status, 200);
      assert.match(feed.text, /event: feed\.hello/);
      assert.equal((await chat(sdk(proxy, APP))).object, 'chat.completion');
      assert.equal((await post(proxy, '/v1/embeddings', APP, { model: 'sim-a', input: 'hello' })).status, 200);
    });

    it('`api` decides, whatever `admin` says: an admin key with api: true calls the API, an ordinary key with api: false cannot', async () => {
      const adminApi = sdk(proxy, ADMIN_API);
      const answer = await chat(adminApi);
      assert.equal(answer.object, 'chat.completion');
      assert.equal((await post(proxy, '/v1/embeddings', ADMIN_API, { model: 'sim-a', input: 'hello' })).status, 200);
      assert.equal((await openFeed(proxy, { authorization: `Bearer ${ADMIN_API}` })).status, 200, 'and it is still an admin key');

      const noApi = await permissionDenied(() => chat(sdk(proxy, NO_API)));
      assert.equal(noApi.code, 'api_access_not_allowed');
      assert.equal((await chat(sdk(proxy, APP))).object, 'chat.completion', 'still serving');
    });

    it('a non-admin key on an admin route gets 403 admin_key_required', async () => {
      const feed = await openFeed(proxy, { authorization: `Bearer ${APP}` });
      assert.equal(feed.status, 403);
      const body = JSON.parse(feed.text) as ErrorBody;
      assert.equal(body.error.code, 'admin_key_required');
      assert.equal(body.error.type, 'permission_error');
      assert.match(body.error.message, /"app" is not an admin key/);
      noSecretIn(feed.text);

      const signIn = await fetch(`${proxy.url}/admin/session`, { method: 'POST', headers: { authorization: `Bearer ${APP}` } });
      assert.equal(signIn.status, 403);
      assert.equal(((await signIn.json()) as ErrorBody).error.code, 'admin_key_required');
      assert.equal(signIn.headers.get('set-cookie'), null, 'no session for a non-admin key');

      assert.equal((await openFeed(proxy, { authorization: `Bearer ${ADMIN}` })).status, 200, 'still serving');
    });
  });

  describe('the admin cookie behind a TLS terminator', () => {
    let trusting: TestProxy;
    let direct: TestProxy;
    before(async () => {
      trusting = await startTestProxy({ config: { keys: KEYS, server: { trustProxy: true } } });
      direct = await startTestProxy({ config: { keys: KEYS } });
    });
    after(async () => {
      await trusting?.close();
      await direct?.close();
    });

    const signIn = (proxy: TestProxy, headers: Record<string, string> = {}) =>
      fetch(`${proxy.url}/admin/session`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, ...headers } });
    const SECURE = /;\s*secure\s*(;|$)/i;

    it('is Secure with trustProxy and X-Forwarded-Proto: https, and a spoofed header changes nothing without trustProxy', async () => {
      const viaTls = await signIn(trusting, { 'x-forwarded-proto': 'https' });
      assert.equal(viaTls.status, 200);
      const cookie = viaTls.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^llm_proxy_admin=[\w-]{40,};/);
      assert.match(cookie, SECURE, cookie.replace(/=[^;]*/, '=…'));
      assert.match(cookie, /httponly/i);
      assert.match(cookie, /samesite=strict/i);
      noSecretIn(cookie);
      // The terminator forwards the browser's cookie: the session works.
      const token = cookie.split(';')[0]!;
      assert.equal((await openFeed(trusting, { cookie: token, 'x-forwarded-proto': 'https' })).status, 200);
      // Signing out clears it with the same attributes.
      const out = await fetch(`${trusting.url}/admin/session`, { method: 'DELETE', headers: { cookie: token, 'x-forwarded-proto': 'https' } });
      assert.equal(out.status, 204);
      assert.match(out.headers.get('set-cookie') ?? '', SECURE);

      // Trusting proxy, but the request came over plain HTTP: no Secure (the browser would drop it).
      const plain = await signIn(trusting, { 'x-forwarded-proto': 'http' });
      assert.equal(plain.status, 200);
      assert.doesNotMatch(plain.headers.get('set-cookie') ?? '', SECURE);

      // Not trusting: anyone can send the header; it neither sets Secure nor breaks sign-in.
      const spoofed = await signIn(direct, { 'x-forwarded-proto': 'https' });
      assert.equal(spoofed.status, 200);
      const spoofedCookie = spoofed.headers.get('set-cookie') ?? '';
      assert.match(spoofedCookie, /^llm_proxy_admin=/);
      assert.doesNotMatch(spoofedCookie, SECURE);
      assert.equal((await openFeed(direct, { cookie: spoofedCookie.split(';')[0]! })).status, 200, 'still serving');
    });
  });
});
