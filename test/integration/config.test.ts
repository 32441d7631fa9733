// Configuration (issue 2): validated once, every problem in one ConfigError; `src/main.ts` as a
// user runs it exits 1 on a bad file, and with no provider key serves the built-in simulator under
// sim-* (saying so in its log), nothing else, and exits 0 on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nock from 'nock';
import OpenAI from 'openai';
import { buildConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import { simText } from '../../src/sim/text.js';
import { within } from '../helpers/upstream.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  describe('buildConfig', () => {
    it('throws one ConfigError that lists every bad value, each with its path', () => {
      const err = configError(() =>
        buildConfig(
          {
            server: { port: 70_000, keepAliveMs: -5, maxBodyBytes: 'big', surprise: true },
            upstreams: { x: { type: 'bogus', baseUrl: 'http://x' } },
            logging: { level: 'loud' },
          },
          { PORT: 'eighty', LOG_CONTENT: 'maybe' },
        ),
      );
      const text = err.message;
      for (const where of ['server.port', 'server.keepAliveMs', 'server.maxBodyBytes', 'surprise', 'upstreams.x.type', 'logging.level', 'PORT', 'LOG_CONTENT']) {
        assert.ok(text.includes(where), `the message names ${where}:\n${text}`);
      }
      assert.ok(err.problems.length >= 8, err.problems.join('\n'));
      // One problem per line, so a user fixes them all in one pass.
      assert.equal(text.split('\n').filter((l) => l.startsWith('  - ')).length, err.problems.length);
    });

    it('lists reference problems (unknown upstream, missing baseUrl) together', () => {
      const err = configError(() =>
        buildConfig({ upstreams: { u: { type: 'openai' } }, models: [{ match: 'a-*', upstream: 'nope' }, { match: 'b', upstream: 'u' }] }, {}),
      );
      assert.ok(err.problems.some((p) => p.includes('upstreams.u.baseUrl')), err.message);
      assert.ok(err.problems.some((p) => p.includes('unknown upstream "nope"')), err.message);
    });

    it('lists schema problems and reference problems together, not one kind per run', () => {
      const err = configError(() => buildConfig({ server: { port: 'x' }, models: [{ match: 'a-*', upstream: 'nope' }] }, {}));
      assert.ok(err.problems.some((p) => p.startsWith('server.port')), err.message);
      assert.ok(err.problems.some((p) => p.includes('unknown upstream "nope"')), err.message);
    });

    describe('${VAR} interpolation', () => {
      const upstream = (apiKey: string): Record<string, unknown> => ({
        upstreams: { default: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey } },
        models: [{ match: '*', upstream: 'default' }],
      });

      it('an unset ${VAR} is a problem naming the variable and where it is used, listed with the others', () => {
        const err = configError(() =>
          buildConfig({ ...upstream('${PROVIDER_KEY}'), keys: [{ name: 'k', key: 'prefix-${CLIENT_SECRET}' }], server: { port: 'x' } }, {}),
        );
        const missing = err.problems.filter((p) => p.includes('is not set'));
        assert.equal(missing.length, 2, err.message);
        assert.match(missing[0]!, /^upstreams\.default\.apiKey: .*PROVIDER_KEY/);
        assert.match(missing[1]!, /^keys\[0\]\.key: .*CLIENT_SECRET/);
        assert.ok(err.problems.some((p) => p.startsWith('server.port')), `listed with the other problems:\n${err.message}`);
      });

      it('a variable set to the empty string is set; ${VAR:-} and ${VAR:-default} allow unset', () => {
        assert.equal(buildConfig(upstream('${PROVIDER_KEY}'), { PROVIDER_KEY: '' }).config.upstreams.default!.apiKey, '');
        assert.equal(buildConfig(upstream('${PROVIDER_KEY:-}'), {}).config.upstreams.default!.apiKey, '');
        assert.equal(buildConfig(upstream('${PROVIDER_KEY:-sk-x}'), {}).config.upstreams.default!.apiKey, 'sk-x');
        assert.equal(buildConfig(upstream('${PROVIDER_KEY}'), { PROVIDER_KEY: 'sk-y' }).config.upstreams.default!.apiKey, 'sk-y');
      });

      it('an upstream switched off by enabledIfEnv may use an unset ${VAR}', () => {
        const cfg = upstream('${PROVIDER_KEY}');
        (cfg.upstreams as { default: Record<string, unknown> }).default.enabledIfEnv = ['PROVIDER_KEY'];
        cfg.models = [];
        assert.deepEqual(buildConfig(cfg, {}).config.upstreams, {});
      });

      it('the shipped configs load with no env, or only the env their comments and the README give', () => {
        assert.ok(loadConfig({}).config.upstreams.sim, 'config/default.yaml serves out of the box');
        const limits = path.join(ROOT, 'config/examples/limits.yaml');
        const err = configError(() => loadConfig({ CONFIG_FILE: limits }));
        assert.ok(err.problems.some((p) => p.startsWith('keys[0].key:') && p.includes('DEMO_API_KEY')), err.message);
        assert.ok(loadConfig({ CONFIG_FILE: limits, DEMO_API_KEY: 'sk-demo-change-me', ADMIN_KEY: 'sk-admin-change-me' }).config.keys.length >= 1);
      });
    });

    it('a good config is frozen and env overrides apply', () => {
      const { config } = buildConfig({ upstreams: { sim: { type: 'sim' } }, models: [{ match: 'sim-*', upstream: 'sim' }] }, { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
      assert.equal(config.server.port, 0);
      assert.equal(config.logging.level, 'warn');
      assert.ok(Object.isFrozen(config.server));
    });
  });

  describe('node src/main.ts', function () {
    // tsx compiles on start: a child needs a few seconds.
    this.timeout(20_000);
    let tmp: string;
    const children: ChildProcess[] = [];

    before(() => {
      if (nock.isActive()) nock.restore();
      tmp = mkdtempSync(path.join(os.tmpdir(), 'proxy-config-'));
    });
    after(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(tmp, { recursive: true, force: true });
    });

    /** Run main.ts with a clean env (no provider key from the developer's shell). */
    function run(env: Record<string, string>): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
      const base: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) {
        if (v === undefined || /^(UPSTREAM_|CONFIG_FILE|REDIS_URL|PORT|HOST|LOG_)/.test(k)) continue;
        base[k] = v;
      }
      const child = spawn(process.execPath, ['--import=tsx', 'src/main.ts'], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, out: () => out, err: () => err, exited };
    }

    it('exits with code 1 and prints every problem of a bad CONFIG_FILE', async () => {
      const file = path.join(tmp, 'bad.yaml');
      writeFileSync(file, ['server:', '  port: -1', '  keepAliveMs: soon', 'upstreams:', '  x:', '    type: carrier-pigeon', 'logging:', '  level: shouty', ''].join('\n'));
      const p = run({ CONFIG_FILE: file });
      const code = await within(15_000, p.exited, 'main.ts to exit');
      assert.equal(code, 1);
      const text = p.out() + p.err();
      assert.match(text, /invalid configuration/);
      for (const where of ['server.port', 'server.keepAliveMs', 'upstreams.x.type', 'logging.level']) assert.ok(text.includes(where), `names ${where}:\n${text}`);
    });

    it('exits with code 1 and names an unset ${VAR} and where it is used', async () => {
      const file = path.join(tmp, 'unset-var.yaml');
      writeFileSync(file, ['upstreams:', '  default:', '    baseUrl: http://127.0.0.1:9/v1', '    apiKey: ${PROXY_TEST_UNSET_KEY}', 'models:', '  - match: "*"', '    upstream: default', ''].join('\n'));
      const p = run({ CONFIG_FILE: file });
      assert.equal(await within(15_000, p.exited, 'main.ts to exit'), 1);
      assert.match(p.err(), /invalid configuration/);
      assert.match(p.err(), /upstreams\.default\.apiKey: environment variable PROXY_TEST_UNSET_KEY is not set/);
    });

    it('exits with code 1 on a YAML syntax error and on a missing file', async () => {
      const file = path.join(tmp, 'broken.yaml');
      writeFileSync(file, 'server:\n  port: [8080\n');
      const a = run({ CONFIG_FILE: file });
      assert.equal(await within(15_000, a.exited, 'main.ts to exit'), 1);
      assert.match(a.err(), /invalid configuration/);
      const b = run({ CONFIG_FILE: path.join(tmp, 'missing.yaml') });
      assert.equal(await within(15_000, b.exited, 'main.ts to exit'), 1);
      assert.match(b.err(), /cannot read the file/);
    });

    it('with no provider key: serves sim-* only, says so in its log, and exits 0 on SIGTERM', async () => {
      const p = run({ PORT: '0', HOST: '127.0.0.1' });
      // The listening line carries the URL (port 0: the kernel chose it).
      const url = await within(
        15_000,
        new Promise<string>((resolve, reject) => {
          const check = (): void => {
            const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(p.out());
            if (m) resolve(m[1]!);
          };
          p.child.stdout!.on('data', check);
          p.child.once('exit', (code) => reject(new Error(`exited with ${code}: ${p.err()}`)));
          check();
        }),
        'the listening log line',
      );
      const logs = p
        .out()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string });
      assert.ok(logs.some((l) => /simulat/i.test(l.msg)), `a start-up line says the simulator is served:\n${p.out()}`);

      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'anything', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      assert.equal(r.choices[0]?.message.content, simText(5));
      // Nothing is silently routed to the simulator.
      const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${String(err)}`);
      assert.equal(err.code, 'model_not_found');

      p.child.kill('SIGTERM');
      assert.equal(await within(10_000, p.exited, 'main.ts to exit after SIGTERM'), 0);
    });
  });
});
