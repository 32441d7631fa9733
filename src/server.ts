/**
 * Wiring: build every dependency from a config (each one overridable, so tests can inject a
 * clock, fetch, registry or logger), create the app, listen, and shut down gracefully.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
import { ModelRouter } from './upstream/router.js';
import { ModelCatalog } from './upstream/model-catalog.js';
import { createReplayStore, type ReplayStore } from './streams/index.js';
import { createSimFetch } from './sim/handler.js';
import { createTokenEstimator } from './usage/estimate.js';
import { CircuitBreaker } from './upstream/breaker.js';
import { applyAbuseLimits, serverOptions } from './http/abuse-limits.js';
import { AuthThrottle } from './http/auth-throttle.js';
import { Inflight } from './shutdown.js';

/** Optional overrides for {@link buildDeps}. */
export interface BuildOptions {
  logger?: Logger;
  clock?: Clock;
  registry?: Registry;
  fetch?: FetchLike;
  pretty?: boolean;
  /** The replay store for resumable streams (default: from the configuration, src/streams/index.ts). */
  streams?: ReplayStore;
}

/** What the circuit breaker takes from a configuration (at start, and at each reload). */
export function breakerShape(config: Config): Parameters<AppDeps['health']['reconfigure']>[0] {
  return {
    ...config.resilience.breaker,
    upstreams: Object.keys(config.upstreams),
    routes: config.models.map((m) => ({ match: m.match, upstreams: (m.deployments ?? []).map((d) => d.upstream) })),
  };
}

/** Build the dependencies for `config`. */
export function buildDeps(config: Config, opts: BuildOptions = {}): AppDeps {
  const logger = opts.logger ?? createLogger({ level: config.logging.level, pretty: opts.pretty, redactPaths: config.logging.redactPaths });
  const bus = new EventBus();
  const registry = opts.registry ?? new Registry();
  const clock = opts.clock ?? systemClock;
  const metrics = config.metrics.enabled ? createMetrics(registry, config) : noopMetrics;
  // One circuit per upstream deployment, reported to llm_proxy_upstream_up and /readyz.
  const health = new CircuitBreaker({ ...breakerShape(config), clock, onChange: (upstream, up) => metrics.setUpstreamUp(upstream, up) });
  const upstream = createUpstreamClient({
    fetch: opts.fetch,
    simFetch: (u) => createSimFetch({ ttftMs: u.sim.ttftMs, tokenDelayMs: u.sim.tokenDelayMs, defaultMaxTokens: u.sim.defaultMaxTokens }) as FetchLike,
    connectTimeoutMs: config.server.connectTimeoutMs,
    kind: config.server.upstreamClient,
  });
  const deps: AppDeps = {
    config,
    logger,
    clock,
    bus,
    router: new ModelRouter(config),
    models: new ModelCatalog(config, upstream, clock, logger),
    streams: opts.streams ?? createReplayStore(config, clock),
    upstream,
    registry,
    health,
    state: { draining: false, activeRequests: 0 },
    estimator: createTokenEstimator(),
    metrics,
    admit: null,
    permit: null,
    allows: null,
    authThrottle: new AuthThrottle({ ...config.server.authFailures, clock }),
  };
  attachRequestLog(bus, logger);
  if (config.metrics.enabled) {
    attachMetrics(bus, deps.metrics);
    deps.metrics.eventsDroppedFrom(() => bus.dropped);
    deps.metrics.replayStatsFrom(() => deps.streams.stats());
    // A 413 the proxy gave itself (no upstream attempt) is an abuse-limit refusal (test/integration/abuse.test.ts).
    bus.on('request.end', (r) => {
      if (r.status === 413 && r.attempts.length === 0) metrics.refused('body_size');
    });
  }
  return deps;
}

/** A listening proxy. */
export interface RunningProxy {
  server: http.Server;
  /** The app new requests go to (the latest configuration's). */
  readonly app: ProxyApp;
  /** The latest configuration's dependencies. */
  readonly deps: AppDeps;
  url: string;
  port: number;
  /**
   * Serve new requests with `deps` and `ext` (a reloaded configuration, src/reload.ts). A request
   * runs wholly on the app it arrived at: open streams finish on the configuration they started
   * with, and from this call on every new request sees the new one.
   */
  swap(deps: AppDeps, ext: AppExtensions): void;
  /** Answer new requests 503, let streams finish within the grace period, end the rest, close. */
  shutdown(): Promise<void>;
}

/** Create the HTTP server for built deps and listen on config host:port (port 0 = any). */
export async function startProxy(first: AppDeps, ext: AppExtensions = {}): Promise<RunningProxy> {
  // Shared by every configuration's app: graceful shutdown waits for all of their streams.
  const inflight = new Inflight();
  let deps = first;
  let app = createApp(deps, ext, inflight);
  // Listening settings are restart-only (src/config/diff.ts): the first configuration's.
  const s = first.config.server;
  // Abuse limits (src/http/abuse-limits.ts): head/body timeouts (slowloris), head size,
  // open connections. Streaming responses are not affected by the timeouts.
  const server = http.createServer({ ...serverOptions(s), keepAliveTimeout: 5_000, noDelay: true });
  const handle = applyAbuseLimits(server, s, deps.metrics, (req, res) => app.callback(req, res));
  // While draining, every answer (API 503s, /readyz, /healthz) ends its connection, so a
  // keep-alive client or load balancer reconnects, to another instance.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (deps.state.draining) res.shouldKeepAlive = false;
    handle(req, res);
  });
  // Open connections (per connection, not per request), so shutdown can tell when what was
  // written has left the process.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
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
      // Drain as a load balancer expects: /readyz turns 503 now, and the listener stays open
      // through the grace period so a request still routed here is ANSWERED (503
      // `server_shutdown`, Connection: close) rather than refused. Connections in use keep
      // their streams; idle keep-alive ones get that 503 on their next request.
      deps.state.draining = true;
      const drained = await inflight.idle(deps.config.server.shutdownGraceMs);
      if (!drained) {
        deps.logger.warn({ open: inflight.size }, 'grace period over: ending open streams');
        inflight.abortAll();
        await inflight.idle(2_000);
      }
      // Responses that just ended, and pipelined ones queued behind them (a pipelined answer is
      // written when the one before it finishes), must still be flushed before idle connections
      // are closed: Node counts a connection idle once its response is ended, written or not
      // (test/integration/cancel-shutdown.test.ts "pipelined"). Wait, bounded, until no socket
      // holds unwritten bytes; no per-request bookkeeping on the hot path for this.
      for (let waited = 0; waited < 1_000; waited += 10) {
        await new Promise((r) => setTimeout(r, 10));
        if (![...sockets].some((sock) => sock.writableLength > 0)) break;
      }
      // Stop listening; idle connections close now (server.close), busy ones after their
      // response; the rest are cut after a bounded wait.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      let done = false;
      void closed.then(() => (done = true));
      for (let waited = 0; !done && waited < 1_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      await deps.upstream.close();
      await deps.streams.close();
    })());
  return {
    server,
    get app() {
      return app;
    },
    get deps() {
      return deps;
    },
    url: `http://${host}:${port}`,
    port,
    swap(nextDeps, nextExt) {
      app = createApp(nextDeps, nextExt, inflight);
      deps = nextDeps;
    },
    shutdown,
  };
}
