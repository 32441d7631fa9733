/**
 * The models each upstream says it serves, for GET /v1/models (src/upstream/router.ts
 * `listModels`): fetched from the provider's own model list (src/providers/<name>: `modelsPath`,
 * `parseModels`), kept for the upstream's `modelListTtlMs`, refreshed in the background when stale.
 *
 * A listing never waits long and never fails because an upstream is down: the first fetch is
 * awaited for at most {@link FIRST_WAIT_MS}; after that a stale list is served while a new one is
 * fetched, and a failed fetch keeps the last list (or none) and is retried after
 * {@link RETRY_AFTER_FAILURE_MS}, logged once per failure. The simulator is asked the same way
 * (src/sim/models.ts), so a `sim-*` glob lists what the simulator serves in each format.
 */
import type { Config, UpstreamConfig } from '../config/schema.js';
import type { Clock } from '../clock.js';
import { Cancel } from '../util/cancel.js';
import { collect } from '../util/collect.js';
import type { UpstreamClient } from './client.js';
import { upstreamRequestHeaders } from './request-headers.js';
import { providerOf } from '../providers/registry.js';

/** The longest a listing waits for an upstream's first model list. */
export const FIRST_WAIT_MS = 3000;
/** A failed fetch is not repeated before this long. */
export const RETRY_AFTER_FAILURE_MS = 30_000;
/** The largest model list read. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;

interface Entry {
  models: readonly string[];
  /** When `models` was fetched (or the last fetch failed), monotonic ms; -Infinity before any. */
  at: number;
  failed: boolean;
  pending: Promise<void> | null;
}

/** Where the catalog logs a failed fetch. */
export interface CatalogLog {
  warn(obj: object, msg: string): void;
}

export class ModelCatalog {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly config: Pick<Config, 'upstreams' | 'server'>,
    private readonly client: UpstreamClient,
    private readonly clock: Clock,
    private readonly log: CatalogLog,
    /** The longest a listing waits for a list never fetched (tests shorten it). */
    private readonly firstWaitMs = FIRST_WAIT_MS,
  ) {}

  /**
   * Every upstream's list as it is now, after making sure each named in `upstreams` has one that
   * is not stale (waiting at most {@link FIRST_WAIT_MS} for those never fetched).
   */
  async lists(upstreams: readonly string[]): Promise<(upstream: string) => readonly string[]> {
    const first: Promise<void>[] = [];
    for (const name of upstreams) {
      const u = this.config.upstreams[name];
      if (u === undefined) continue;
      const e = this.entry(name);
      const ttl = e.failed ? RETRY_AFTER_FAILURE_MS : u.modelListTtlMs;
      if (e.pending === null && this.clock.monotonic() - e.at >= ttl) e.pending = this.fetch(name, u, e);
      if (e.at === -Infinity && e.pending !== null) first.push(e.pending);
    }
    if (first.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(first), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.firstWaitMs)))]);
      clearTimeout(timer);
    }
    return (name) => this.entries.get(name)?.models ?? [];
  }

  private entry(name: string): Entry {
    let e = this.entries.get(name);
    if (e === undefined) this.entries.set(name, (e = { models: [], at: -Infinity, failed: false, pending: null }));
    return e;
  }

  /** Fetch one upstream's list into `e`; never rejects. */
  private async fetch(name: string, u: UpstreamConfig, e: Entry): Promise<void> {
    const provider = providerOf(u);
    try {
      const res = await this.client.send(
        {
          upstreamName: name,
          upstream: u,
          path: provider.modelsPath,
          method: 'GET',
          headers: upstreamRequestHeaders({}, u, 'models-list', { accept: 'application/json' }),
          signal: new Cancel(),
        },
        Math.min(this.config.server.firstByteTimeoutMs, FIRST_WAIT_MS * 10),
      );
      const body = await collect(res.body, { limitBytes: MAX_LIST_BYTES });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      e.models = provider.parseModels(JSON.parse(body.toString('utf8')));
      e.failed = false;
    } catch (err) {
      e.failed = true;
      this.log.warn({ upstream: name, err: (err as Error).message }, 'could not fetch the upstream model list for GET /v1/models; keeping the last one');
    } finally {
      e.at = this.clock.monotonic();
      e.pending = null;
    }
  }
}
