/**
 * The upstream transports' error classes (src/upstream/errors.ts): matched with `instanceof`,
 * each with the stable `code` logs and callers read (the values Node and undici use where they
 * have one), and how src/upstream/client.ts maps them to the caller's 504/502.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  BodyDestroyedError,
  ConnectTimeoutError,
  FirstByteTimeoutError,
  InvalidHeaderError,
  SocketHangUpError,
  TransportInvariantError,
  UpstreamTransportError,
  invariant,
} from '../../src/upstream/errors.js';
import { mapFetchError } from '../../src/upstream/client.js';
import { UpstreamError, UpstreamTimeoutError } from '../../src/errors.js';
import { collect, PrematureCloseError } from '../../src/util/collect.js';

describe('upstream transport errors', () => {
  const cases: Array<[UpstreamTransportError, string, string, string]> = [
    [new ConnectTimeoutError(250), 'ConnectTimeoutError', 'UND_ERR_CONNECT_TIMEOUT', 'connect timed out after 250 ms'],
    [new FirstByteTimeoutError(300), 'FirstByteTimeoutError', 'PROXY_FIRST_BYTE_TIMEOUT', 'no response head within 300 ms'],
    [new SocketHangUpError(), 'SocketHangUpError', 'ECONNRESET', 'socket hang up'],
    [new InvalidHeaderError('header "x"'), 'InvalidHeaderError', 'ERR_INVALID_CHAR', 'Invalid character in header "x"'],
    [new BodyDestroyedError(), 'BodyDestroyedError', 'PROXY_BODY_DESTROYED', 'response body destroyed'],
  ];

  for (const [err, name, code, message] of cases) {
    it(`${name}: code ${code}, its message, an Error and an UpstreamTransportError`, () => {
      assert.ok(err instanceof Error);
      assert.ok(err instanceof UpstreamTransportError);
      assert.equal(err.name, name);
      assert.equal(err.code, code);
      assert.equal(err.message, message);
      assert.equal((err.constructor as { CODE?: string }).CODE, code, 'the static CODE is the instance code');
    });
  }

  it('the classes are told apart by instanceof, not by code', () => {
    const hangUp = new SocketHangUpError();
    assert.ok(!(hangUp instanceof ConnectTimeoutError));
    assert.ok(!(new ConnectTimeoutError(1) instanceof FirstByteTimeoutError));
    // A foreign error with the same code is not one of ours.
    assert.ok(!(Object.assign(new Error('x'), { code: 'ECONNRESET' }) instanceof SocketHangUpError));
  });

  it('the timeouts keep their limit', () => {
    assert.equal(new ConnectTimeoutError(10).timeoutMs, 10);
    assert.equal(new FirstByteTimeoutError(20).timeoutMs, 20);
  });

  describe('mapFetchError', () => {
    it('a first-byte timeout → 504 upstream_timeout', () => {
      const e = mapFetchError(new FirstByteTimeoutError(5), 'u');
      assert.ok(e instanceof UpstreamTimeoutError);
      assert.equal(e.code, 'upstream_timeout');
      assert.equal(e.status, 504);
    });
    it('a connect timeout → 504 upstream_connect_timeout', () => {
      const e = mapFetchError(new ConnectTimeoutError(5), 'u');
      assert.ok(e instanceof UpstreamTimeoutError);
      assert.equal(e.code, 'upstream_connect_timeout');
    });
    it("undici's own connect timeout (a foreign error, matched by code in its cause) → 504 too", () => {
      const cause = Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      assert.equal(mapFetchError(new TypeError('fetch failed', { cause }), 'u').code, 'upstream_connect_timeout');
    });
    it('a socket hang up → 502 upstream_unreachable naming ECONNRESET', () => {
      const e = mapFetchError(new SocketHangUpError(), 'u');
      assert.ok(e instanceof UpstreamError);
      assert.equal(e.code, 'upstream_unreachable');
      assert.match(e.message, /ECONNRESET/);
    });
  });

  describe('invariant', () => {
    it('passes a true condition and throws a TransportInvariantError naming a false one', () => {
      invariant(true, 'never');
      assert.throws(() => invariant(null, 'a call has its connection'), (err: unknown) => {
        assert.ok(err instanceof TransportInvariantError);
        assert.ok(!(err instanceof UpstreamTransportError), 'a bug, not an upstream failure');
        assert.match((err as Error).message, /invariant broken: a call has its connection/);
        return true;
      });
    });
  });

  describe('collect: a premature close', () => {
    it("rejects with PrematureCloseError ('aborted', ECONNRESET)", async () => {
      const s = new PassThrough();
      const p = collect(s);
      s.write('x');
      s.destroy();
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof PrematureCloseError);
        assert.equal((err as PrematureCloseError).code, 'ECONNRESET');
        assert.equal((err as Error).message, 'aborted');
        return true;
      });
    });
  });
});
