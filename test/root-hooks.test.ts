/**
 * Root-level hooks for the whole mocha run. nock@14 starts intercepting fetch as soon as any spec
 * file imports it, and every spec file is imported before the first test runs: without this,
 * tests that need real sockets (backpressure, aborts) would run through nock's interceptor,
 * which buffers bodies. Files that script the upstream with nock call `nock.activate()` in their
 * own `before` and `nock.restore()` in their `after`.
 */
import nock from 'nock';

before(() => {
  if (nock.isActive()) nock.restore();
});
