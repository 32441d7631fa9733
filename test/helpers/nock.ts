/**
 * nock for the files that script the upstream (see test/root-hooks.test.ts: interception is off
 * for the run, each such file turns it on for itself and off again). Call
 * {@link interceptUpstream} in `before`, {@link releaseUpstream} in `after` (after closing the
 * proxy), and, where every scripted call must be made, {@link assertScriptsUsed} in `afterEach`.
 */
import assert from 'node:assert/strict';
import nock from 'nock';

/**
 * Intercept the proxy's global fetch: no real upstream connection, only loopback through (the
 * SDK and raw clients talk to the proxy on 127.0.0.1; the upstream hosts are scripted).
 */
export function interceptUpstream(): void {
  if (!nock.isActive()) nock.activate();
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
}

/** Every upstream call scripted for the test was made; the scripts are dropped either way. */
export function assertScriptsUsed(): void {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  assert.deepEqual(pending, [], 'every scripted upstream call was made');
}

/** Undo {@link interceptUpstream}: drop the scripts, allow every connection, stop intercepting. */
export function releaseUpstream(): void {
  nock.cleanAll();
  nock.enableNetConnect();
  nock.restore();
}
