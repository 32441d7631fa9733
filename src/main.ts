/**
 * Entry point: load config, build dependencies, listen, handle signals (DESIGN.md layout).
 * `npm start` runs the compiled file; `npm run dev` runs this through tsx with pretty logs.
 */
import v8 from 'node:v8';
import { ConfigError, loadConfig } from './config/load.js';
import { buildDeps, startProxy } from './server.js';
import { extensionsFor } from './features.js';

async function main(): Promise<void> {
  // V8 moves an allocation site's objects straight to the old generation once most of them are
  // found alive at a scavenge. A proxy's per-request objects live about as long as the gap
  // between scavenges, so under load whole groups of sites were switched (`--trace-pretenuring-
  // statistics`), filling the old generation with short-lived garbage: more mark-compacts (6–14 ms
  // each) and 2–3× the p99 time to first token (`npm run bench -- --only latency`, issue 6).
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { config, notes, source } = loaded;
  const deps = buildDeps(config, { pretty: process.argv.includes('--pretty') });
  // Load the tokenizer now (~175 ms) rather than on the first request that needs an estimate.
  deps.estimator.preload();
  const { ext, close } = await extensionsFor(deps);
  const proxy = await startProxy(deps, ext);
  const log = deps.logger;
  for (const note of notes) log.info(note);
  const upstreams = Object.entries(config.upstreams).map(([name, u]) => (u.type === 'sim' ? `${name} (built-in simulator)` : `${name} (${u.baseUrl})`));
  log.info({ config: source, upstreams, routes: config.models.map((m) => m.match), auth: config.keys.length > 0 }, `llm proxy listening on ${proxy.url}`);
  if (!Object.values(config.upstreams).some((u) => u.type !== 'sim')) {
    log.info('no provider key set: serving the built-in simulated upstream for sim-* models only (set UPSTREAM_API_KEY to reach your provider)');
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, grace_ms: config.server.shutdownGraceMs }, 'shutting down');
    proxy
      .shutdown()
      .then(close)
      .then(() => {
        log.info('bye');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
