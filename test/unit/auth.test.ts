import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ANONYMOUS_KEY, bearerToken, createKeyStore, type ClientKey } from '../../src/auth/keys.js';
import { compileGlob, matchesGlob } from '../../src/glob.js';
import { loadConfig } from '../../src/config/load.js';
import { clientKeySchema, type ClientKeyConfig } from '../../src/config/schema.js';
import { AuthenticationError, PermissionDeniedError, toOpenAIError } from '../../src/errors.js';

const PLAIN = 'sk-proxy-plain-4f2a9c61b7d84e03';
const HASHED = 'sk-proxy-hashed-0d1e2f3a4b5c6d7e';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const keys: ClientKeyConfig[] = [
  clientKeySchema.parse({ name: 'demo', key: PLAIN, models: ['sim-*'], limits: { rpm: 5, tpm: 20000, maxConcurrent: 2 } }),
  clientKeySchema.parse({ name: 'ops', sha256: sha256(HASHED).toUpperCase(), admin: true }),
];

/** Everything reachable from `value`, as one string, to look for secrets in. */
const dump = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v));

describe('auth', () => {
  describe('bearerToken', () => {
    it('reads "Bearer <token>", scheme in any case, blanks around', () => {
      assert.equal(bearerToken('Bearer abc'), 'abc');
      assert.equal(bearerToken('bearer abc'), 'abc');
      assert.equal(bearerToken('  BEARER   abc  '), 'abc');
    });
    it('rejects anything else', () => {
      for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'abc', 'Bearer a b', 'Token abc']) {
        assert.equal(bearerToken(h), null, String(h));
      }
    });
  });

  describe('createKeyStore', () => {
    const store = createKeyStore(keys);

    it('is enabled when keys are configured', () => assert.equal(store.enabled, true));

    it('accepts a plain key', () => {
      const k = store.authenticate(`Bearer ${PLAIN}`);
      assert.deepEqual(k, { name: 'demo', limits: { rpm: 5, tpm: 20000, maxConcurrent: 2 }, models: ['sim-*'], admin: false, api: true });
    });

    it('accepts a key configured by its SHA-256 (hex in either case)', () => {
      const k = store.authenticate(`Bearer ${HASHED}`);
      assert.equal(k?.name, 'ops');
      assert.equal(k?.admin, true);
      assert.equal(k?.models, undefined);
    });

    it('refuses a wrong, truncated, extended or missing key', () => {
      for (const h of [undefined, '', `Bearer ${PLAIN}x`, `Bearer ${PLAIN.slice(0, -1)}`, 'Bearer nope', PLAIN, `Basic ${PLAIN}`]) {
        assert.equal(store.authenticate(h), null, String(h));
      }
      // the digest itself is not a key
      assert.equal(store.authenticate(`Bearer ${sha256(HASHED)}`), null);
    });

    it('throws OpenAI-shaped 401s that say missing vs wrong', () => {
      assert.throws(() => store.requireKey(undefined), (err: unknown) => {
        assert.ok(err instanceof AuthenticationError);
        const r = toOpenAIError(err);
        assert.equal(r.status, 401);
        assert.equal(r.body.error.code, 'invalid_api_key');
        assert.match(r.body.error.message, /didn't provide an API key/);
        return true;
      });
      assert.throws(() => store.requireKey('Bearer sk-wrong'), /^AuthenticationError: Incorrect API key provided\.$/);
      assert.equal(store.requireKey(`Bearer ${PLAIN}`).name, 'demo');
    });

    it('never returns or mentions a secret or its digest', () => {
      const secrets = [PLAIN, HASHED, sha256(PLAIN), sha256(HASHED)];
      const seen: unknown[] = [store.authenticate(`Bearer ${PLAIN}`), store.authenticate(`Bearer ${HASHED}`), store];
      for (const h of [undefined, `Bearer ${PLAIN}x`, `Bearer ${HASHED.slice(1)}`]) {
        try {
          store.requireKey(h);
        } catch (err) {
          seen.push(err, toOpenAIError(err));
        }
      }
      try {
        store.requireModel(store.authenticate(`Bearer ${PLAIN}`)!, 'gpt-4o');
      } catch (err) {
        seen.push(err, toOpenAIError(err));
      }
      const text = dump(seen) + seen.map(String).join('\n');
      for (const s of secrets) {
        assert.ok(!text.includes(s), 'a secret leaked');
        assert.ok(!text.toLowerCase().includes(s.toLowerCase()), 'a secret leaked (case-folded)');
      }
      // the returned key has exactly the public fields, and cannot be changed
      const k = store.authenticate(`Bearer ${PLAIN}`)!;
      assert.deepEqual(Object.keys(k).sort(), ['admin', 'api', 'limits', 'models', 'name']);
      assert.ok(Object.isFrozen(k));
    });

    it('refuses two keys with the same name or the same secret, naming only the keys', () => {
      const twinName = [keys[0]!, { ...keys[0]!, key: 'other-secret' }];
      assert.throws(() => createKeyStore(twinName), /the name "demo" is used twice/);
      const twinSecret = [keys[0]!, clientKeySchema.parse({ name: 'copy', sha256: sha256(PLAIN) })];
      assert.throws(() => createKeyStore(twinSecret), (err: unknown) => {
        assert.match(String(err), /"demo" and "copy" have the same secret/);
        assert.ok(!String(err).includes(PLAIN) && !String(err).includes(sha256(PLAIN)));
        return true;
      });
    });

    describe('models', () => {
      const demo = store.authenticate(`Bearer ${PLAIN}`)!;
      const ops = store.authenticate(`Bearer ${HASHED}`)!;

      it('allows the models matching the key\'s globs', () => {
        assert.equal(store.isModelAllowed(demo, 'sim-echo'), true);
        assert.equal(store.isModelAllowed(demo, 'sim-'), true);
        assert.equal(store.isModelAllowed(demo, 'gpt-4o'), false);
        assert.equal(store.isModelAllowed(demo, 'xsim-echo'), false);
      });
      it('allows every model to a key without a models list', () => {
        assert.equal(store.isModelAllowed(ops, 'gpt-4o'), true);
      });
      it('an empty list allows nothing; "*" allows everything', () => {
        const none: ClientKey = { name: 'n', limits: {}, models: [], admin: false, api: true };
        const all: ClientKey = { name: 'a', limits: {}, models: ['*'], admin: false, api: true };
        assert.equal(store.isModelAllowed(none, 'sim-echo'), false);
        assert.equal(store.isModelAllowed(all, 'anything/at:all'), true);
      });
      it('requireModel throws a 403 naming the key and model', () => {
        assert.throws(() => store.requireModel(demo, 'gpt-4o'), (err: unknown) => {
          assert.ok(err instanceof PermissionDeniedError);
          assert.equal(err.status, 403);
          assert.equal(err.param, 'model');
          assert.equal(err.message, 'The API key "demo" is not allowed to use the model "gpt-4o".');
          return true;
        });
        store.requireModel(demo, 'sim-fast');
      });
    });
  });

  describe('when no keys are configured', () => {
    const store = createKeyStore([]);
    it('auth is off: every request is the anonymous key, which may do everything', () => {
      assert.equal(store.enabled, false);
      assert.equal(store.authenticate(undefined), ANONYMOUS_KEY);
      assert.equal(store.authenticate('Bearer whatever'), ANONYMOUS_KEY);
      assert.equal(store.requireKey(undefined), ANONYMOUS_KEY);
      assert.equal(store.isModelAllowed(ANONYMOUS_KEY, 'gpt-4o'), true);
      assert.equal(ANONYMOUS_KEY.admin, true);
      assert.deepEqual(ANONYMOUS_KEY.limits, {});
    });
  });

  describe('globs', () => {
    it('"*" is any run, "?" one character, the rest literal', () => {
      assert.equal(matchesGlob('gpt-4o?', 'gpt-4oX'), true);
      assert.equal(matchesGlob('gpt-4o?', 'gpt-4o'), false);
      assert.equal(matchesGlob('a.b', 'aXb'), false);
      assert.equal(matchesGlob('a+(b)[c]{1}|$^\\', 'a+(b)[c]{1}|$^\\'), true);
      assert.equal(matchesGlob('*-mini', 'gpt-4o-mini'), true);
      assert.equal(compileGlob('*').test('line\nbreak'), true);
    });
  });

  describe('config/examples/limits.yaml', () => {
    it('loads, and its demo key is DEMO_API_KEY with the documented models and limits', () => {
      const { config } = loadConfig({ CONFIG_FILE: 'config/examples/limits.yaml', DEMO_API_KEY: 'sk-demo-test', ADMIN_KEY: 'sk-admin-test' });
      const store = createKeyStore(config.keys);
      const demo = store.requireKey('Bearer sk-demo-test');
      assert.deepEqual(demo, { name: 'demo', limits: { rpm: 5, tpm: 20000, maxConcurrent: 2 }, models: ['sim-*'], admin: false, api: true });
      assert.equal(store.isModelAllowed(demo, 'sim-echo'), true);
      assert.equal(store.isModelAllowed(demo, 'gpt-4o'), false);
      assert.equal(config.rateLimit.redisFailure, 'local');
    });
    it('does not load without DEMO_API_KEY', () => {
      assert.throws(() => loadConfig({ CONFIG_FILE: 'config/examples/limits.yaml', ADMIN_KEY: 'sk-admin-test' }), /keys\[0\]\.key: environment variable DEMO_API_KEY is not set/);
    });
  });
});
