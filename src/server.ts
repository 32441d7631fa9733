/**
 * Wiring: build every dependency from a config (each one overridable, so tests can inject a
 * clock, fetch, registry or logger), create the app, listen, and shut down gracefully.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/schema.js';
import { EventBus } from './events/bus.js';
import { createApp, type AppExtensions, type ProxyApp } from './app.js';
import type { AppDeps } from './deps.js';
import { createLogger } from './logging/logger.js';
import { attachRequestLog } from './logging/record.js';
import { attachMetrics, createMetrics, noopMetrics } from './metrics.js';
import { createUpstreamClient, type FetchLike } from './upstream/client.js';
import { Router } from './upstream/router.js';
import { createSimFetch } from './sim/handler.js';
import { createTokenEstimator } from './usage/estimate.js';
import { CircuitBreaker } from './upstream/breaker.js';
import { applyAbuseLimits, serverOptions } from './http/abuse-limits.js';
import { AuthThrottle } from './http/auth-throttle.js';

/** Optional overrides for {@link buildDeps}. */
export interface BuildOptions {
  logger?: Logger;
  clock?: Clock;
  registry?: Registry;
  fetch?: FetchLike;
  pretty?: boolean;
}

/** Build the dependencies for `config`. */
export function buildDeps(config: Config, opts: BuildOptions = {}): AppDeps {
  const logger = opts.logger ?? createLogger({ level: config.logging.level, pretty: opts.pretty, redactPaths: config.logging.redactPaths });
  const bus = new EventBus();
  const registry = opts.registry ?? new Registry();
  const clock = opts.clock ?? systemClock;
  const metrics = config.metrics.enabled ? createMetrics(registry, config) : noopMetrics;
  // Issue 7: one circuit per upstream deployment, reported to llm_proxy_upstream_up and /readyz.
  const health = new CircuitBreaker({
    ...config.resilience.breaker,
    clock,
    upstreams: Object.keys(config.upstreams),
    routes: config.models.map((m) => ({ match: m.match, upstreams: (m.deployments ?? []).map((d) => d.upstream) })),
    onChange: (upstream, up) => metrics.setUpstreamUp(upstream, up),
  });
  const deps: AppDeps = {
    config,
    logger,
    clock,
    bus,
    router: new Router(config),
    upstream: createUpstreamClient({
      fetch: opts.fetch,
      simFetch: (u) => createSimFetch({ ttftMs: u.sim.ttftMs, tokenDelayMs: u.sim.tokenDelayMs, defaultMaxTokens: u.sim.defaultMaxTokens }) as FetchLike,
      connectTimeoutMs: config.server.connectTimeoutMs,
      kind: config.server.upstreamClient,
    }),
    registry,
    health,
    state: { draining: false, activeRequests: 0 },
    estimator: createTokenEstimator(),
    metrics,
    admit: null,
    permit: null,
    authThrottle: new AuthThrottle({ ...config.server.authFailures, clock }),
  };
  attachRequestLog(bus, logger);
  if (config.metrics.enabled) {
    attachMetrics(bus, deps.metrics);
    deps.metrics.eventsDroppedFrom(() => bus.dropped);
    // A 413 the proxy gave itself (no upstream attempt) is an abuse-limit refusal (issue 7).
    bus.on('request.end', (r) => {
      if (r.status === 413 && r.attempts.length === 0) metrics.refused('body_size');
    });
  }
  return deps;
}

/** A listening proxy. */
export interface RunningProxy {
  server: http.Server;
  app: ProxyApp;
  deps: AppDeps;
  url: string;
  port: number;
  /** Stop accepting, let streams finish within the grace period, end the rest, close. */
  shutdown(): Promise<void>;
}

/** Create the HTTP server for built deps and listen on config host:port (port 0 = any). */
export async function startProxy(deps: AppDeps, ext: AppExtensions = {}): Promise<RunningProxy> {
  const app = createApp(deps, ext);
  const s = deps.config.server;
  // Abuse limits (issue 7, src/http/abuse-limits.ts): head/body timeouts (slowloris), head size,
  // open connections. Streaming responses are not affected by the timeouts.
  const server = http.createServer({ ...serverOptions(s), keepAliveTimeout: 5_000, noDelay: true });
  server.on('request', applyAbuseLimits(server, s, deps.metrics, app.callback));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: s.port, host: s.host, backlog: s.listenBacklog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  let shuttingDown: Promise<void> | null = null;
  const shutdown = (): Promise<void> =>
    (shuttingDown ??= (async () => {
      deps.state.draining = true;
      // Stop accepting; idle keep-alive sockets close now, busy ones after their response.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained = await app.inflight.idle(s.shutdownGraceMs);
      if (!drained) {
        deps.logger.warn({ open: app.inflight.size }, 'grace period over: ending open streams');
        app.inflight.abortAll();
        await app.inflight.idle(2_000);
      }
      // Responses that just ended, and pipelined ones queued behind them, must still be flushed:
      // close connections as they go idle, and cut the rest only after a bounded wait. (No
      // per-request bookkeeping on the hot path for this.)
      let done = false;
      void closed.then(() => (done = true));
      for (let waited = 0; !done && waited < 1_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      await deps.upstream.close();
    })());
  return { server, app, deps, url: `http://${host}:${port}`, port, shutdown };
}
