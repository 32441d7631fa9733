/**
 * Entry point: load config, build dependencies, listen, handle signals (docs/ARCHITECTURE.md "Layers").
 * `npm start` runs the compiled file; `npm run dev` runs this through tsx with pretty logs.
 */
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { ConfigError, loadConfig } from './config/load.js';
import { buildDeps, startProxy } from './server.js';
import { extensionsFor } from './features.js';
import { createReloader, type Reloader } from './reload.js';
import type { ReloadTrigger } from './config/diff.js';
import { watchFile } from './config/watch.js';
import { estimatesExpected } from './access.js';
import { baseUrlOf } from './providers/registry.js';

/**
 * One line an operator can act on for the listen errors a configuration causes (a stack trace
 * says none of it); null for any other error. test/integration/shutdown-drain.test.ts.
 */
function listenErrorLine(err: unknown, host: string, port: number): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const at = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EADDRINUSE') return `cannot listen on ${at}: the address is in use (another process is listening there); stop it, or set PORT (server.port) to a free port`;
  if (code === 'EACCES') return `cannot listen on ${at}: permission denied (ports below 1024 need privileges); set PORT (server.port) to 1024 or above`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${at}: ${host} is not an address of this machine; set HOST (server.host)`;
  return null;
}

/**
 * pino may still hold lines in its buffer (sonic-boom writes asynchronously), and
 * `process.exit` drops them: flush first, so the log's last line ("bye") is really written.
 * Bounded, so a stuck stdout cannot keep the process alive.
 */
function exitAfterFlush(log: Logger, code: number): void {
  const exit = (): never => process.exit(code);
  setTimeout(exit, 2_000);
  try {
    log.flush(() => exit());
  } catch {
    exit();
  }
}

async function main(): Promise<void> {
  // V8 moves an allocation site's objects straight to the old generation once most of them are
  // found alive at a scavenge. A proxy's per-request objects live about as long as the gap
  // between scavenges, so under load whole groups of sites were switched (`--trace-pretenuring-
  // statistics`), filling the old generation with short-lived garbage: more mark-compacts (6–14 ms
  // each) and 2–3× the p99 time to first token (`npm run bench -- --only latency`).
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
  // Tokenizer tables (≈90 MB, 0.3–0.7 s of blocked event loop: src/usage/estimate.ts) before
  // listening, but only when estimates are expected (src/access.ts `estimatesExpected`): not
  // during some unlucky first request.
  if (estimatesExpected(config)) deps.estimator.preload();
  let reloader: Reloader | null = null;
  const features = await extensionsFor(deps, {
    reload: (trigger) => (reloader ? reloader.reload(trigger) : Promise.resolve({ ok: false, problems: ['the proxy is still starting'] })),
  });
  const { ext, close } = features;
  let proxy;
  try {
    proxy = await startProxy(deps, ext);
  } catch (err) {
    const line = listenErrorLine(err, config.server.host, config.server.port);
    if (line === null) throw err;
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
  const log = deps.logger;
  for (const note of notes) log.info(note);
  const running = proxy;
  reloader = createReloader({ running, features, load: () => loadConfig(process.env) });
  const reload = (trigger: ReloadTrigger): void => void reloader?.reload(trigger);
  // SIGHUP: the usual "read your configuration again" signal (nginx, HAProxy).
  process.on('SIGHUP', () => reload('signal'));
  const stopWatching = config.reload.watch ? watchFile(source, config.reload.debounceMs, () => reload('file'), log) : () => undefined;
  const upstreams = Object.entries(config.upstreams).map(([name, u]) => (u.type === 'sim' ? `${name} (built-in simulator)` : `${name} (${u.type}, ${baseUrlOf(u)})`));
  log.info({ config: source, upstreams, routes: config.models.map((m) => m.match), auth: config.keys.length > 0 }, `llm proxy listening on ${proxy.url}`);
  if (!Object.values(config.upstreams).some((u) => u.type !== 'sim')) {
    log.info('no provider key set: serving the built-in simulated upstream for sim-* models only (set UPSTREAM_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY to reach your provider)');
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, grace_ms: running.deps.config.server.shutdownGraceMs }, 'shutting down');
    stopWatching();
    running
      .shutdown()
      .then(close)
      .then(() => {
        log.info('bye');
        exitAfterFlush(log, 0);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exitAfterFlush(log, 1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
