/**
 * What the relay uses of the app's dependencies, declared by the relay so it never imports
 * src/deps.ts (the app's wiring sits above it; .dependency-cruiser.cjs, docs/ARCHITECTURE.md).
 * The app's `AppDeps` (src/deps.ts) has all of these fields and satisfies it structurally, so
 * routes pass their deps in unchanged.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { ProxyMetrics } from '../metrics.js';
import type { UpstreamHealth } from '../upstream/breaker.js';
import type { UpstreamClient } from '../upstream/client.js';

export interface RelayDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly bus: EventBus;
  readonly upstream: UpstreamClient;
  /** Per-upstream health: the attempt loop reports each attempt's outcome to it. */
  readonly health: UpstreamHealth;
  readonly metrics: ProxyMetrics;
}
