/**
 * Start a whole proxy on 127.0.0.1:0 for a test: config from an object (merged over a small
 * base), logs captured in memory, every dependency overridable.
 */
import { Writable } from 'node:stream';
import nock from 'nock';
import { buildConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { buildDeps, startProxy, type BuildOptions, type RunningProxy } from '../../src/server.js';
import { extensionsFor, type Features } from '../../src/features.js';
import { createReloader, type Reloader } from '../../src/reload.js';
import type { ConfigReload } from '../../src/admin/routes.js';
import type { ReloadOutcome } from '../../src/config/diff.js';
import type { AppExtensions } from '../../src/app.js';

/** A running test proxy. */
export interface TestProxy extends RunningProxy {
  /** OpenAI SDK base URL. */
  baseURL: string;
  /** Every log line written so far (JSON strings). */
  logs: string[];
  /** Parsed log records. */
  records(): Array<Record<string, unknown>>;
  /** Reload with `config` (merged over the base, like startTestProxy's) as the new file, or the same one. */
  reload(config?: Record<string, unknown>, env?: Record<string, string | undefined>): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

/** Base config: fast simulator, short timeouts, quiet logs. */
export function baseConfig(): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 2000 },
    upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 8 } } },
    models: [{ match: 'sim-*', upstream: 'sim' }],
    logging: { level: 'info' },
  };
}

/**
 * Config (merged over {@link baseConfig}) routing `up-*` to an OpenAI-type upstream at `baseUrl`
 * (a test upstream, a black hole, a scripted host), `sim-*` staying on the simulator; `server`
 * sets the server options under test (timeouts, grace).
 */
export function routeUpTo(baseUrl: string, server: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server,
    upstreams: { up: { type: 'openai', baseUrl, apiKey: 'sk-upstream-secret' } },
    models: [
      { match: 'sim-*', upstream: 'sim' },
      { match: 'up-*', upstream: 'up' },
    ],
  };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Options for {@link startTestProxy}. */
export interface TestProxyOptions extends BuildOptions {
  /** Config merged over {@link baseConfig} (objects merge, arrays replace). */
  config?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Use the feature extensions from config (auth, limits, admin); default true. */
  features?: boolean;
  ext?: AppExtensions;
}

/** Start a proxy for a test. Call close() in after/afterEach. */
export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  // nock scripts the upstream by intercepting node:http, which the proxy's own HTTP/1.1 client
  // (the default) does not use: while nock is on, the proxy talks through node:http unless the
  // test chose a client itself. Tests with real upstream servers use the default client.
  const base = nock.isActive() ? merge(baseConfig(), { server: { upstreamClient: 'node' } }) : baseConfig();
  // What reload() reads: the test's stand-in for the config file and the environment.
  let source = { raw: merge(base, opts.config ?? {}), env: opts.env ?? {} };
  const load = () => buildConfig(source.raw, source.env);
  const { config } = load();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(line);
      cb();
    },
  });
  const logger = opts.logger ?? createLogger({ level: config.logging.level, destination: sink, redactPaths: config.logging.redactPaths });
  const deps = buildDeps(config, { ...opts, logger });
  let reloader: Reloader | null = null;
  const reload: ConfigReload = (trigger) => reloader!.reload(trigger);
  const features: Features =
    opts.features === false
      ? { ext: {}, reconfigure: async () => ({}), close: async () => undefined }
      : await extensionsFor(deps, { reload });
  // The test's own extensions join the features' ones, for every configuration.
  const withTest = (fx: AppExtensions): AppExtensions => ({
    authenticate: opts.ext?.authenticate ?? fx.authenticate,
    middleware: [...(fx.middleware ?? []), ...(opts.ext?.middleware ?? [])],
    routes: [...(fx.routes ?? []), ...(opts.ext?.routes ?? [])],
    readiness: [...(fx.readiness ?? []), ...(opts.ext?.readiness ?? [])],
    isAdmin: opts.ext?.isAdmin ?? fx.isAdmin ?? null,
  });
  const proxy = await startProxy(deps, withTest(features.ext));
  reloader = createReloader({
    running: proxy,
    features: { ...features, reconfigure: async (next) => withTest(await features.reconfigure(next)) },
    load,
  });
  // The running proxy's getters (app, deps) must stay live across reloads: extend, do not copy.
  return Object.assign(proxy, {
    baseURL: `${proxy.url}/v1`,
    logs,
    records: () => logs.map((l) => JSON.parse(l) as Record<string, unknown>),
    reload: (next?: Record<string, unknown>, env?: Record<string, string | undefined>) => {
      source = { raw: next === undefined ? source.raw : merge(base, next), env: env ?? source.env };
      return reloader!.reload('test');
    },
    close: async () => {
      await proxy.shutdown();
      await features.close();
    },
  });
}
