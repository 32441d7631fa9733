/**
 * The failed-authentication throttle (src/http/auth-throttle.ts) without sockets, on a manual
 * clock: the limit per address, the window, and the bound on addresses tracked.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.js';
import { AuthThrottledError } from '../../src/errors.js';
import { AuthThrottle } from '../../src/http/auth-throttle.js';

describe('AuthThrottle', () => {
  it('refuses an address after max failures until its window ends; other addresses are untouched', () => {
    const clock = new ManualClock();
    const t = new AuthThrottle({ max: 3, windowMs: 60_000, clock });
    for (let i = 0; i < 3; i++) {
      t.check('10.0.0.1');
      t.fail('10.0.0.1');
    }
    assert.throws(() => t.check('10.0.0.1'), (e: unknown) => e instanceof AuthThrottledError && e.status === 429 && e.headers['retry-after'] === '60');
    t.check('10.0.0.2');
    clock.advance(30_000);
    assert.throws(() => t.check('10.0.0.1'), (e: unknown) => e instanceof AuthThrottledError && e.headers['retry-after'] === '30');
    clock.advance(30_000);
    t.check('10.0.0.1');
    assert.equal(t.size, 0, 'the expired window is forgotten');
  });

  it('holds at most maxAddresses, forgetting the oldest first', () => {
    const clock = new ManualClock();
    const t = new AuthThrottle({ max: 1, windowMs: 60_000, clock, maxAddresses: 100 });
    for (let i = 0; i < 10_000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(t.size, 100);
    t.check('10.0.0.0'); // long forgotten
    assert.throws(() => t.check(`10.0.${9_999 >> 8}.${9_999 & 255}`), AuthThrottledError);
  });
});
