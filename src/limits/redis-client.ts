/**
 * An ioredis client configured for the limiter: a down Redis must fail an admission at once (so
 * the limiter can fall back to local limits or answer 503), never queue it or retry it, and the
 * client must keep reconnecting in the background so the proxy returns to shared limits.
 */
import { Redis } from 'ioredis';

export interface RedisClientOptions {
  /** TCP connect timeout (ms). */
  connectTimeoutMs?: number;
  /** A command without a reply after this long fails (ms): covers a Redis that hangs. */
  commandTimeoutMs?: number;
  /** Longest pause between reconnection attempts (ms). */
  maxReconnectDelayMs?: number;
}

/**
 * `enableOfflineQueue: false` — a command issued while disconnected rejects immediately instead
 * of waiting for a reconnect; `maxRetriesPerRequest: 0` — a command cut off by a dropped
 * connection is not resent (an admission must not be charged twice); `commandTimeout` — a
 * connected but stalled Redis fails too; `retryStrategy` — reconnect forever with a capped delay.
 * The `error` event is consumed here (ioredis would print every reconnection failure); the
 * limiter reports an outage once, through its log and observer.
 */
export function createRedisClient(url: string, opts: RedisClientOptions = {}): Redis {
  const maxDelay = opts.maxReconnectDelayMs ?? 1000;
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeoutMs ?? 1000,
    commandTimeout: opts.commandTimeoutMs ?? 500,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
    enableReadyCheck: true,
  });
  client.on('error', () => {});
  return client;
}

/**
 * Resolve true once `client` is ready, false after `timeoutMs`. With the offline queue off, the
 * first admissions would otherwise fail while the first connection is still being made.
 */
export function redisReady(client: Redis, timeoutMs = 2000): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}
