/**
 * The router's memory of callers' model names is bounded (src/upstream/router.ts): a glob
 * route's resolutions live in a least-recently-used cache of GLOB_CACHE_MAX names, configured
 * names in their own fixed map, and the answers are the same as without any cache.
 */
import assert from 'node:assert/strict';
import { buildConfig } from '../../src/config/load.js';
import { GLOB_CACHE_MAX, ModelRouter, type Route } from '../../src/upstream/router.js';

/** Routes: an exact name, a glob with a label, an exact name behind it, another exact name and glob. */
const { config } = buildConfig(
  {
    server: { host: '127.0.0.1', port: 0 },
    upstreams: { sim: { type: 'sim' }, other: { type: 'sim' } },
    models: [
      { match: 'sim-exact', upstream: 'other' },
      { match: 'sim-*', upstream: 'sim', label: 'sims' },
      { match: 'sim-shadowed', upstream: 'other' },
      { match: 'gpt-4o', upstream: 'other' },
      { match: 'up-*', upstream: 'other' },
    ],
    metrics: { prices: { 'sim-priced': { prompt: 1, completion: 2 } } },
  },
  {},
);
const router = (): ModelRouter => new ModelRouter(config);

/** What a route says, without object identity. */
const view = (r: Route | null) => (r === null ? null : { match: r.match, label: r.label, upstreams: r.deployments.map((d) => d.upstream) });

describe('router cache (bounded LRU of callers’ model names)', () => {
  it('holds at most GLOB_CACHE_MAX names after 20,000 distinct ones, the most recent last', () => {
    const r = router();
    for (let i = 0; i < 20_000; i++) assert.equal(r.resolve(`sim-n${i}`)?.label, 'sims');
    const held = r.cachedNames();
    assert.equal(held.length, GLOB_CACHE_MAX);
    assert.ok(GLOB_CACHE_MAX <= 1_000);
    // Exactly the last GLOB_CACHE_MAX names, in use order.
    assert.deepEqual(held, Array.from({ length: GLOB_CACHE_MAX }, (_, k) => `sim-n${20_000 - GLOB_CACHE_MAX + k}`));
  });

  it('keeps a name in use while others come and go, evicting the least recently used', () => {
    const r = router();
    r.resolve('sim-hot');
    r.resolve('sim-cold');
    for (let i = 0; i < 5 * GLOB_CACHE_MAX; i++) {
      r.resolve(`sim-x${i}`);
      if (i % 100 === 0) r.resolve('sim-hot');
    }
    const held = new Set(r.cachedNames());
    assert.ok(held.has('sim-hot'), 'a name used every 100 lookups stays');
    assert.ok(!held.has('sim-cold'), 'a name not used since is evicted');
    assert.ok(held.size <= GLOB_CACHE_MAX);
  });

  it('never puts configured names into the cache', () => {
    const r = router();
    for (let i = 0; i < 3; i++) {
      for (const name of ['sim-exact', 'sim-shadowed', 'gpt-4o', 'sim-priced']) assert.ok(r.resolve(name), name);
    }
    assert.deepEqual(r.cachedNames(), []);
    // Nor do unknown or over-long names crowd them out: they resolve the same after a flood.
    for (let i = 0; i < 2 * GLOB_CACHE_MAX; i++) r.resolve(`nope-${i}`);
    assert.equal(r.resolve('gpt-4o')?.match, 'gpt-4o');
    assert.equal(r.resolve('sim-exact')?.match, 'sim-exact');
    assert.ok(!r.cachedNames().includes('gpt-4o'));
  });

  it('does not remember names longer than any valid model name', () => {
    const r = router();
    const long = `sim-${'x'.repeat(1_000_000)}`;
    assert.equal(r.resolve(long)?.label, 'sims');
    assert.deepEqual(r.cachedNames(), []);
  });

  it('answers as an uncached router does, for configured, glob, unknown and evicted names', () => {
    const r = router();
    const names = ['sim-exact', 'sim-shadowed', 'sim-priced', 'gpt-4o', 'sim-1', 'up-9', 'nope', '', 'gpt-4o-mini'];
    for (let i = 0; i < 3 * GLOB_CACHE_MAX; i++) names.push(i % 3 === 0 ? `sim-${i}` : i % 3 === 1 ? `up-${i}` : `none-${i}`);
    // Twice over: the second pass answers from the cache (or, for evicted names, afresh).
    for (let pass = 0; pass < 2; pass++) {
      for (const name of names) assert.deepEqual(view(r.resolve(name)), view(router().resolve(name)), name);
      assert.ok(r.cachedNames().length <= GLOB_CACHE_MAX);
    }
    // The first route that matches wins: a glob before an exact name takes it; its price names it.
    assert.deepEqual(view(r.resolve('sim-shadowed')), { match: 'sim-*', label: 'sims', upstreams: ['sim'] });
    assert.deepEqual(view(r.resolve('sim-priced')), { match: 'sim-*', label: 'sim-priced', upstreams: ['sim'] });
    assert.deepEqual(view(r.resolve('sim-exact')), { match: 'sim-exact', label: 'sim-exact', upstreams: ['other'] });
    assert.equal(r.resolve('nope'), null);
  });
});
