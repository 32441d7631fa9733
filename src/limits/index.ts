/** Rate limiting (README "Keys and rate limits"): the limiter, its stores and the helpers the app needs. */
export {
  createRateLimiter,
  type Admission,
  type AdmissionRequest,
  type LimitName,
  type LimiterLog,
  type LimiterObserver,
  type RateLimiter,
  type RateLimiterDeps,
} from './limiter.js';
export type { SpendUsage } from './budget-policy.js';
export { reservationTokens, CONCURRENCY_RETRY_MS } from './policy.js';
export { formatResetDuration } from './format.js';
export { createRedisClient, redisReady, type RedisClientOptions } from './redis-client.js';
