/**
 * One streamed chat request, driven through the real relay (src/relay/chat.ts `relayChatStream`:
 * the attempt loop, the caller side `CallerStream`, the pipeline) with no socket: a {@link FakeResponse} caller, a
 * {@link FakeUpstreamClient}, a {@link ManualClock} and {@link FakeTimers} for the relay's timers.
 * The route has one deployment per name in `upstreams`, tried in that order (priorities 0, 1, …).
 */
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { ManualClock } from '../../src/clock.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { EventBus } from '../../src/events/bus.js';
import { noopMetrics } from '../../src/metrics.js';
import { relayChatJson, relayChatStream, streamRelayOptions, type RelayRequest, type StreamEnd } from '../../src/relay/chat.js';
import { Exchange } from '../../src/relay/exchange.js';
import type { RelayDeps } from '../../src/relay/relay-deps.js';
import type { UpstreamHealth } from '../../src/upstream/breaker.js';
import type { Route } from '../../src/upstream/router.js';
import { createTokenEstimator } from '../../src/usage/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { Cancel } from '../../src/util/cancel.js';
import { FakeResponse } from './fake-response.js';
import { FakeTimers } from './fake-timers.js';
import { FakeUpstreamClient, type BodyMode } from './fake-upstream-client.js';

/** Health that allows every upstream and records what the attempt loop reports. */
export class RecordingHealth implements UpstreamHealth {
  readonly reports: string[] = [];
  allows(_upstream: string): boolean {
    return true;
  }
  reconfigure(): void {}
  success(upstream: string): void {
    this.reports.push(`success:${upstream}`);
  }
  failure(upstream: string): void {
    this.reports.push(`failure:${upstream}`);
  }
  begin(): void {}
  end(): void {}
}

export interface HarnessOptions {
  server?: Partial<Config['server']>;
  resilience?: Partial<Omit<Config['resilience'], 'breaker'>>;
  upstreams?: string[];
  mode?: BodyMode;
}

/** A content chunk as an upstream sends it with include_usage (`"usage":null` on every chunk). */
export function contentChunk(content: string): string {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null })}\n\n`;
}

export const DONE = 'data: [DONE]\n\n';

export function chatHarness(o: HarnessOptions = {}) {
  const clock = new ManualClock();
  const timers = new FakeTimers(clock);
  const names = o.upstreams ?? ['a'];
  const config: Config = configSchema.parse({
    server: o.server ?? {},
    upstreams: Object.fromEntries(names.map((n) => [n, { baseUrl: `http://${n}.test` }])),
    models: [{ match: 'm', deployments: names.map((upstream, priority) => ({ upstream, priority })) }],
    resilience: o.resilience ?? {},
  });
  const route: Route = {
    match: 'm',
    label: 'm',
    deployments: config.models[0]!.deployments!.map((d) => ({ ...d, upstreamConfig: config.upstreams[d.upstream]! })),
  };
  const upstream = new FakeUpstreamClient(o.mode ?? 'direct');
  const health = new RecordingHealth();
  const bus = new EventBus();
  const deps: RelayDeps = { config, logger: pino({ level: 'silent' }), clock, bus, upstream, health, metrics: noopMetrics };
  const ex = new Exchange('req-1', 'POST', '/v1/chat/completions', clock, bus);
  const res = new FakeResponse();
  const abort = new Cancel();
  const body = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };
  // The relay reads only the caller's headers (for the upstream request's allowlist).
  const req = { headers: {} } as IncomingMessage;
  const r: RelayRequest = {
    deps,
    ex,
    req,
    res: res.asServerResponse(),
    route,
    body,
    extraHeaders: {},
    tracker: new UsageTracker(createTokenEstimator(), 'm', body),
    abort,
  };
  const start = (): Promise<StreamEnd> => relayChatStream(r, streamRelayOptions(deps));
  /** The same request with `stream: false` (src/relay/chat.ts `relayChatJson`). */
  const startJson = (): Promise<void> => relayChatJson({ ...r, body: { ...body, stream: false } }, streamRelayOptions(deps));
  return { clock, timers, config, upstream, health, ex, res, abort, r, start, startJson };
}

export type ChatHarness = ReturnType<typeof chatHarness>;
