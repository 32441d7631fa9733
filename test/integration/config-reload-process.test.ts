/**
 * Live configuration in a real process (src/main.ts): SIGHUP reloads the file, `reload.watch`
 * reloads on save, a broken file changes nothing, and a restart-only change is named and kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

const OLD = 'reload-proc-old-key-0001';
const NEW = 'reload-proc-new-key-0001';

function file(keys: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): string {
  return stringify({
    server: { host: '127.0.0.1', port: 8080 },
    upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 2 } } },
    models: [{ match: 'sim-*', upstream: 'sim' }],
    keys,
    ...extra,
  });
}

async function status(p: ProxyProcess, key: string): Promise<number> {
  const res = await fetch(`${p.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('live configuration reload (real process)', function () {
  this.timeout(60_000);
  let dir: string;
  let configFile: string;
  let proc: ProxyProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'reload-proc-'));
    configFile = path.join(dir, 'proxy.yaml');
  });
  afterEach(async () => {
    await proc?.stop();
    proc = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGHUP reloads the file; a broken file changes nothing; a restart-only change is named and kept', async () => {
    writeFileSync(configFile, file([{ name: 'app', key: OLD }]));
    proc = await startProxyProcess({ env: { CONFIG_FILE: configFile, PORT: '0' } });
    assert.equal(await status(proc, OLD), 200);

    writeFileSync(configFile, file([{ name: 'app', key: NEW }]));
    proc.proc.kill('SIGHUP');
    await proc.waitForLog(/configuration reloaded/, 10_000);
    assert.equal(await status(proc, NEW), 200);
    assert.equal(await status(proc, OLD), 401);

    writeFileSync(configFile, 'models: [{ match: "x-*", upstream: nowhere }]\nserver: { keepAliveMs: -5 }\n');
    proc.proc.kill('SIGHUP');
    const refused = await proc.waitForLog(/configuration reload refused/, 10_000);
    assert.match(refused, /nowhere/);
    assert.match(refused, /keepAliveMs/);
    assert.equal(await status(proc, NEW), 200, 'still serving the running configuration');

    writeFileSync(configFile, file([{ name: 'app', key: NEW }, { name: 'b', key: OLD }], { server: { host: '127.0.0.1', port: 8080, maxConnections: 500 } }));
    proc.proc.kill('SIGHUP');
    const line = await proc.waitForLog(/needs a restart to apply: server\.maxConnections/, 10_000);
    assert.match(line, /configuration reloaded/);
    assert.equal(await status(proc, OLD), 200, 'the rest of the change applied');
  });

  it('reload.watch: saving the file reloads it', async () => {
    writeFileSync(configFile, file([{ name: 'app', key: OLD }], { reload: { watch: true, debounceMs: 50 } }));
    proc = await startProxyProcess({ env: { CONFIG_FILE: configFile, PORT: '0' } });
    assert.equal(await status(proc, NEW), 401);
    // Written as editors do: a new file renamed over the old one.
    const tmp = path.join(dir, '.proxy.yaml.tmp');
    writeFileSync(tmp, file([{ name: 'app', key: NEW }], { reload: { watch: true, debounceMs: 50 } }));
    renameSync(tmp, configFile);
    await proc.waitForLog(/configuration reloaded/, 10_000);
    assert.equal(await status(proc, NEW), 200);
  });
});
