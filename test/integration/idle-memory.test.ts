/**
 * Idle memory: gpt-tokenizer's tables (≈90 MB RSS, src/usage/estimate.ts) are loaded at start
 * only when estimates are expected: a network upstream, token limits or budgets (src/access.ts
 * `estimatesExpected`). With the default config (the built-in
 * simulator only, which always reports usage) they stay unloaded through start-up and a served
 * request, and load on the first request that needs an estimate (a stream the client cut).
 *
 * The signal is Node's own module-loader trace (`NODE_DEBUG=module` writes a `load "<file>"` line
 * to stderr for every CommonJS module it loads; the estimator loads the tables with `require`),
 * not RSS, which tsx and the GC make noisy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

const TABLES_LOADED = /MODULE \d+: load ".*gpt-tokenizer[\\/]cjs[\\/]encoding[\\/](?:o200k_base|cl100k_base)\.js"/;

/** The (first) request log line with this end reason. */
function requestLine(p: ProxyProcess, endReason: string): Promise<string> {
  return p.waitForLog(new RegExp(`"msg":"request".*"endReason":"${endReason}"|"endReason":"${endReason}".*"msg":"request"`), 10_000);
}

async function chat(p: ProxyProcess, signal?: AbortSignal): Promise<Response> {
  return fetch(`${p.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-1', stream: true, messages: [{ role: 'user', content: 'Say something.' }] }),
    signal: signal ?? null,
  });
}

describe('idle memory: tokenizer tables load only when needed', function () {
  this.timeout(60_000);
  let proxy: ProxyProcess | null = null;

  afterEach(async () => {
    await proxy?.stop();
    proxy = null;
  });

  it('a sim-only proxy has not loaded them after start and a served request; a cut stream loads them', async () => {
    proxy = await startProxyProcess({ env: { NODE_DEBUG: 'module' } });
    const p = proxy;

    const done = await chat(p);
    assert.equal(done.status, 200);
    assert.match(await done.text(), /data: \[DONE\]/);
    assert.match(await requestLine(p, 'done'), /"tokenSource":"upstream"/);
    assert.equal(p.logs.find((l) => TABLES_LOADED.test(l)), undefined, 'no tokenizer table was loaded at start or for a request the simulator reported usage for');

    // The control: the trace does show the load when an estimate is needed (no usage chunk).
    const ac = new AbortController();
    const cut = await chat(p, ac.signal);
    const reader = cut.body!.getReader();
    await reader.read();
    ac.abort();
    assert.match(await requestLine(p, 'client_aborted'), /"tokenSource":"estimated"/);
    await p.waitForLog(TABLES_LOADED, 10_000);
  });

  it('a proxy with a network upstream loads them before it listens', async () => {
    // Nothing listens on port 9: the upstream is configured, never called.
    proxy = await startProxyProcess({ env: { NODE_DEBUG: 'module', UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1' } });
    await proxy.waitForLog(TABLES_LOADED, 10_000);
  });

  it('a sim-only proxy with token limits loads them before it listens (admission estimates every prompt)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'idle-memory-'));
    try {
      const file = path.join(dir, 'config.yaml');
      writeFileSync(
        file,
        ['upstreams:', '  sim: { type: sim }', 'models:', '  - { match: "sim-*", upstream: sim }', 'keys:', '  - { name: team, key: sk-team-test-key-1234, limits: { tpm: 100000 } }', ''].join('\n'),
      );
      proxy = await startProxyProcess({ env: { NODE_DEBUG: 'module', CONFIG_FILE: file } });
      await proxy.waitForLog(TABLES_LOADED, 10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
