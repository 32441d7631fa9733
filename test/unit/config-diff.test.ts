/**
 * The reload's view of a configuration change (src/config/diff.ts), without a server: what
 * changed, what needs a restart, the digest.
 */
import assert from 'node:assert/strict';
import { buildConfig } from '../../src/config/load.js';
import { configDigest, diffConfig, keepRestartOnly } from '../../src/config/diff.js';

const base = {
  server: { port: 8080 },
  upstreams: { sim: { type: 'sim' }, up: { type: 'openai', baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'sk-one-secret' } },
  models: [{ match: 'sim-*', upstream: 'sim' }],
  keys: [
    { name: 'a', key: 'key-a-secret' },
    { name: 'b', key: 'key-b-secret', limits: { rpm: 5 } },
  ],
};
const load = (raw: Record<string, unknown>) => buildConfig(raw, {}).config;

describe('config diff', () => {
  it('names changed keys by name only, upstream fields by path, and nothing for an equal config', () => {
    const a = load(base);
    assert.deepEqual(diffConfig(a, load(base)), { changed: [], restartRequired: [] });
    const b = load({
      ...base,
      upstreams: { ...base.upstreams, up: { ...base.upstreams.up, apiKey: 'sk-two-secret' } },
      models: [...base.models, { match: 'up-*', upstream: 'up' }],
      keys: [{ name: 'a', key: 'key-a-rotated' }, { name: 'c', key: 'key-c-secret' }],
    });
    const d = diffConfig(a, b);
    assert.deepEqual(d.changed, ['keys.a', 'keys.b', 'keys.c', 'models', 'upstreams.up.apiKey']);
    assert.deepEqual(d.restartRequired, []);
    assert.ok(!JSON.stringify(d).includes('secret') && !JSON.stringify(d).includes('rotated'), 'no secret in the diff');
  });

  it('separates restart-only settings, and keepRestartOnly puts their running values back', () => {
    const a = load(base);
    const b = load({ ...base, server: { port: 9090, keepAliveMs: 5 }, redisUrl: 'redis://127.0.0.1:1', rateLimit: { redisKeyPrefix: 'x' } });
    const d = diffConfig(a, b);
    assert.deepEqual(d.changed, ['server.keepAliveMs']);
    assert.deepEqual(d.restartRequired, ['rateLimit.redisKeyPrefix', 'redisUrl', 'server.port']);
    const kept = keepRestartOnly(a, b);
    assert.equal(kept.server.port, 8080);
    assert.equal(kept.server.keepAliveMs, 5);
    assert.equal(kept.redisUrl, undefined);
    assert.equal(kept.rateLimit.redisKeyPrefix, a.rateLimit.redisKeyPrefix);
    assert.deepEqual(diffConfig(a, kept).restartRequired, []);
  });

  it('the digest is stable for the same config and changes with any value', () => {
    assert.equal(configDigest(load(base)), configDigest(load(base)));
    assert.match(configDigest(load(base)), /^[0-9a-f]{16}$/);
    assert.notEqual(configDigest(load(base)), configDigest(load({ ...base, server: { port: 8081 } })));
  });
});
