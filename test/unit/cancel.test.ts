import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Cancel, toAbortSignal } from '../../src/util/cancel.js';

describe('Cancel (the request cancellation, AbortController semantics)', () => {
  it('runs each listener once, in order, synchronously; a second abort changes nothing', () => {
    const c = new Cancel();
    const calls: string[] = [];
    const a = (): void => void calls.push(`a:${String(c.signal.reason)}`);
    c.signal.addEventListener('abort', a);
    c.signal.addEventListener('abort', a); // the same listener twice is one listener
    c.signal.addEventListener('abort', () => calls.push('b'), { once: true });
    assert.equal(c.signal.aborted, false);
    c.abort('first');
    assert.deepEqual(calls, ['a:first', 'b']);
    assert.equal(c.signal.aborted, true);
    c.abort('second');
    assert.equal(c.signal.reason, 'first');
    assert.deepEqual(calls, ['a:first', 'b']);
    // Added after the abort: never called (as on an AbortSignal).
    c.signal.addEventListener('abort', () => calls.push('late'));
    assert.deepEqual(calls, ['a:first', 'b']);
  });

  it('a removed listener is not called; without a reason the reason is an AbortError', () => {
    const c = new Cancel();
    let called = 0;
    const fn = (): void => void called++;
    c.signal.addEventListener('abort', fn);
    c.signal.removeEventListener('abort', fn);
    c.signal.removeEventListener('abort', fn); // removing twice is harmless
    c.abort();
    assert.equal(called, 0);
    assert.ok(c.signal.reason instanceof DOMException);
    assert.equal((c.signal.reason as DOMException).name, 'AbortError');
  });

  it('a listener that throws does not stop the others; its error surfaces as uncaught', async () => {
    const c = new Cancel();
    const boom = new Error('listener failed');
    let after = false;
    c.signal.addEventListener('abort', () => {
      throw boom;
    });
    c.signal.addEventListener('abort', () => void (after = true));
    // Mocha's own handler would fail the test: take it out while we wait for ours.
    const mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    try {
      const caught = once(process, 'uncaughtException');
      c.abort(new Error('stop'));
      assert.equal(after, true);
      const [err] = (await caught) as [Error];
      assert.equal(err, boom);
    } finally {
      for (const h of mochaHandlers) process.on('uncaughtException', h);
    }
  });

  it('toAbortSignal gives fetch a real AbortSignal that follows it (and passes a real one through)', () => {
    const c = new Cancel();
    const s = toAbortSignal(c);
    assert.ok(s instanceof AbortSignal);
    assert.equal(s.aborted, false);
    const reason = new Error('client closed');
    c.abort(reason);
    assert.equal(s.aborted, true);
    assert.equal(s.reason, reason);
    const already = new Cancel();
    already.abort('gone');
    assert.equal(toAbortSignal(already).reason, 'gone');
    const real = new AbortController().signal;
    assert.equal(toAbortSignal(real), real);
  });
});
