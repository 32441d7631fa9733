/**
 * The replay store an app uses (README "Resumable streams"): Redis Streams when the configuration
 * names Redis, so a stream can be read through any instance; memory otherwise. Made on first use:
 * a proxy whose callers never ask for a resumable stream opens no Redis connection for it.
 */
import type { Config } from '../config/schema.js';
import type { Clock } from '../clock.js';
import { MemoryReplayStore } from './memory-store.js';
import { RedisReplayStore } from './redis-store.js';
import type { ReplayLog, ReplayStore, StoreBounds, StreamMeta, ReadResult } from './types.js';

export type { ReplayLog, ReplayStore, StreamMeta, ReadResult } from './types.js';

/** The store's bounds from the configuration (`resumable`, and `server.maxStreamDurationMs`). */
export function storeBounds(config: Config): StoreBounds {
  const r = config.resumable;
  return {
    maxStreamBytes: r.maxStreamBytes,
    maxStreams: r.maxStreams,
    maxTotalBytes: r.maxTotalBytes,
    retentionMs: r.retentionMs,
    leaseMs: r.leaseMs,
    // A generation is cut at the maximum duration; 0 (none) still needs a bound for an unfinished log.
    maxStreamDurationMs: config.server.maxStreamDurationMs > 0 ? config.server.maxStreamDurationMs : 3_600_000,
  };
}

/** The store for `config`, made when first used. */
export function createReplayStore(config: Config, clock: Clock): ReplayStore {
  const bounds = storeBounds(config);
  const url = config.redisUrl;
  const make = (): ReplayStore =>
    url ? new RedisReplayStore(url, `${config.rateLimit.redisKeyPrefix}:`, bounds) : new MemoryReplayStore(bounds, clock);
  return new LazyStore(make);
}

class LazyStore implements ReplayStore {
  private store: ReplayStore | null = null;

  constructor(private readonly make: () => ReplayStore) {}

  private get s(): ReplayStore {
    return (this.store ??= this.make());
  }

  open(meta: StreamMeta): ReplayLog | null {
    return this.s.open(meta);
  }

  meta(id: string): Promise<StreamMeta | null> {
    return this.s.meta(id);
  }

  read(id: string, after: number, opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReadResult | null> {
    return this.s.read(id, after, opts);
  }

  stats(): { streams: number; bytes: number } {
    return this.store?.stats() ?? { streams: 0, bytes: 0 };
  }

  async close(): Promise<void> {
    await this.store?.close();
  }
}
