/**
 * The Redis store: any number of proxy instances share one set of limits (test/integration/redis-proxies.test.ts).
 *
 * Round trips: one per admission (the admit script), one per settle (the settle script), and one
 * per lease-renewal tick per instance (not per request). ioredis' `defineCommand` sends the
 * script body with EVAL the first time on each connection and EVALSHA after, so a restarted
 * Redis with an empty script cache costs nothing extra either.
 *
 * Time is the Redis server's (`TIME` inside the script), never the instance's, so instances with
 * skewed clocks agree. Arithmetic is gcra.ts's, line for line.
 *
 * Keys (`P` = `rateLimit.redisKeyPrefix`; `{rl}` is a hash tag so that all keys of one admission
 * live in one Redis Cluster slot and a multi-key script is allowed):
 *   P:{rl}:<scope>:<name>:requests   string, the bucket's TAT in ms (`%.17g`, exact), PX until full
 *   P:{rl}:<scope>:<name>:tokens     same for tokens; with debt the TTL is longer than a minute
 *   P:{rl}:<scope>:<name>:slots      sorted set, member = slot id (instance id + counter),
 *                                    score = lease expiry in server ms; PEXPIRE lease + 1 s
 * with <scope> `key`, `model` or `upstream` and <name> URI-encoded.
 *   P:{rl}:budget:<name>:<period start, YYYY-MM-DD or `total`>   string, whole nano-dollars spent
 *                                    (reservations included), PEXPIREAT the period's end
 *                                    (budget-math.ts); `total` never expires, so it survives restarts. A bucket key that is full
 * again has expired (absent = full), so idle keys vanish on their own.
 *
 * Concurrency slots are leases: each slot lives `leaseMs` (rateLimit.concurrencyLeaseMs) unless
 * its instance renews it, which it does every leaseMs / 3 for all its open slots in one script
 * call. Each admit first drops expired members. So an instance that dies (or loses Redis for
 * longer than a lease) leaks its slots for at most `leaseMs`; a live instance re-adds its open
 * slots at the next renewal, which also restores them after a Redis restart.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { EPSILON_MS, WINDOW_MS } from './gcra.js';
import type { AdmitInput, AdmitOutput, LimitStore, SettleInput, SettleOutput } from './store.js';

/** Shared Lua: the server's time in ms, or the test override in `ARGV[i]` when not empty. */
const NOW = (argIndex: number) => `
local now
if ARGV[${argIndex}] ~= '' then now = tonumber(ARGV[${argIndex}]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end`;

/** Redis < 7 needs effects replication for a script that reads TIME before writing; 7+ always does it. */
const PREAMBLE = `if redis.replicate_commands then pcall(redis.replicate_commands) end
local WINDOW, EPS = ${WINDOW_MS}, ${EPSILON_MS}
local function fmt(x) return string.format('%.17g', x) end`;

/**
 * KEYS: nb bucket keys, then ns slot-set keys, then the budget keys (the rest).
 * ARGV: nb, ns, slot id, lease ms, now override, then (capacity, cost) per bucket, then max per slot
 * set, then (limit, cost, expire-at ms or '') per budget (whole nano-dollars, budget-math.ts).
 * Returns { admitted 0|1, now, TAT per bucket..., in-use per slot set..., spent per budget... }
 * (TATs as exact strings: Redis would truncate a Lua number reply to an integer; spend is whole).
 */
export const ADMIT_LUA = `${PREAMBLE}
local nb, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local slotId, lease = ARGV[3], tonumber(ARGV[4])
${NOW(5)}
local ok = 1
local tats, nexts, inUse = {}, {}, {}
for i = 1, nb do
  local cap, cost = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or 0
  local nxt = math.max(tat, now) + cost * WINDOW / cap
  tats[i], nexts[i] = tat, nxt
  if nxt - now - WINDOW > EPS then ok = 0 end
end
for j = 1, ns do
  local key, max = KEYS[nb + j], tonumber(ARGV[5 + 2 * nb + j])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
  local n = redis.call('ZCARD', key)
  inUse[j] = n
  if n >= max then ok = 0 end
end
local nbud, spent = #KEYS - nb - ns, {}
for k = 1, nbud do
  local base = 5 + 2 * nb + ns + 3 * (k - 1)
  local s = tonumber(redis.call('GET', KEYS[nb + ns + k])) or 0
  spent[k] = s
  if s + tonumber(ARGV[base + 2]) > tonumber(ARGV[base + 1]) then ok = 0 end
end
if ok == 1 then
  for i = 1, nb do
    redis.call('SET', KEYS[i], fmt(nexts[i]), 'PX', math.ceil(nexts[i] - now) + 1000)
    tats[i] = nexts[i]
  end
  for j = 1, ns do
    redis.call('ZADD', KEYS[nb + j], fmt(now + lease), slotId)
    redis.call('PEXPIRE', KEYS[nb + j], lease + 1000)
    inUse[j] = inUse[j] + 1
  end
  for k = 1, nbud do
    local base, key = 5 + 2 * nb + ns + 3 * (k - 1), KEYS[nb + ns + k]
    spent[k] = redis.call('INCRBY', key, ARGV[base + 2])
    if ARGV[base + 3] ~= '' then redis.call('PEXPIREAT', key, ARGV[base + 3]) end
  end
end
local out = { ok, fmt(now) }
for i = 1, nb do out[#out + 1] = fmt(tats[i]) end
for j = 1, ns do out[#out + 1] = inUse[j] end
for k = 1, nbud do out[#out + 1] = spent[k] end
return out`;

/**
 * KEYS: nb token-bucket keys, then ns slot-set keys, then the budget keys (the rest).
 * ARGV: nb, ns, slot id, now override, then (capacity, delta) per bucket, then (delta, expire-at
 * ms or '') per budget. Returns { now, TAT per bucket..., in-use per slot set..., spent per budget... }.
 * A budget whose period ended meanwhile is gone: the correction recreates it already expired
 * (PEXPIREAT in the past deletes), and its spend reads 0.
 */
export const SETTLE_LUA = `${PREAMBLE}
local nb, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local slotId = ARGV[3]
${NOW(4)}
local out = { fmt(now) }
for i = 1, nb do
  local cap, delta = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or 0
  local nt = math.max(now, math.max(tat, now) + delta * WINDOW / cap)
  if nt > now then
    redis.call('SET', KEYS[i], fmt(nt), 'PX', math.ceil(nt - now) + 1000)
  else
    redis.call('DEL', KEYS[i])
  end
  out[#out + 1] = fmt(nt)
end
for j = 1, ns do
  local key = KEYS[nb + j]
  redis.call('ZREM', key, slotId)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
  out[#out + 1] = redis.call('ZCARD', key)
end
for k = 1, #KEYS - nb - ns do
  local base, key = 4 + 2 * nb + 2 * (k - 1), KEYS[nb + ns + k]
  local v = redis.call('INCRBY', key, ARGV[base + 1])
  if ARGV[base + 2] ~= '' then redis.call('PEXPIREAT', key, ARGV[base + 2]) end
  if redis.call('EXISTS', key) == 0 then v = 0 end
  out[#out + 1] = v
end
return out`;

/**
 * KEYS: one slot-set key per open slot. ARGV: lease ms, now override, then the slot id for each key.
 */
export const RENEW_LUA = `${PREAMBLE}
local lease = tonumber(ARGV[1])
${NOW(2)}
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], fmt(now + lease), ARGV[2 + i])
  redis.call('PEXPIRE', KEYS[i], lease + 1000)
end
return #KEYS`;

type Reply = Array<string | number>;
interface LimiterCommands {
  llmProxyRateLimitAdmit(...args: Array<string | number>): Promise<Reply>;
  llmProxyRateLimitSettle(...args: Array<string | number>): Promise<Reply>;
  llmProxyRateLimitRenew(...args: Array<string | number>): Promise<number>;
}

export interface RedisStoreOptions {
  /** `rateLimit.redisKeyPrefix`. */
  prefix: string;
  /** How long a concurrency slot lives without renewal (`rateLimit.concurrencyLeaseMs`). */
  leaseMs: number;
  /** Called when a background lease renewal fails (the next admission reports the outage). */
  onRenewError?: (err: Error) => void;
  /** Tests only: a fixed time source instead of the server's TIME, to compare with the memory store. */
  now?: () => number;
}

export interface RedisStore extends LimitStore {
  /** The full Redis key for a bucket or slot-set id (tests). */
  keyOf(id: string): string;
  /** Renew every open slot's lease now (the timer does this every leaseMs / 3). */
  renewLeases(): Promise<void>;
}

/** Build the Redis store over a client the caller owns (the store never closes it). */
export function createRedisStore(redis: Redis, opts: RedisStoreOptions): RedisStore {
  redis.defineCommand('llmProxyRateLimitAdmit', { lua: ADMIT_LUA });
  redis.defineCommand('llmProxyRateLimitSettle', { lua: SETTLE_LUA });
  redis.defineCommand('llmProxyRateLimitRenew', { lua: RENEW_LUA });
  const cmd = redis as unknown as LimiterCommands;
  const keyOf = (id: string): string => `${opts.prefix}:{rl}:${id}`;
  const nowArg = (): string => (opts.now ? String(opts.now()) : '');

  /** Open slots of this instance: slot id → slot-set ids. */
  const open = new Map<string, readonly string[]>();

  const renewLeases = async (): Promise<void> => {
    if (open.size === 0) return;
    const keys: string[] = [];
    const members: string[] = [];
    for (const [slotId, sets] of open) {
      for (const id of sets) {
        keys.push(keyOf(id));
        members.push(slotId);
      }
    }
    await cmd.llmProxyRateLimitRenew(keys.length, ...keys, opts.leaseMs, nowArg(), ...members);
  };
  const timer = setInterval(() => {
    renewLeases().catch((err: unknown) => opts.onRenewError?.(err as Error));
  }, Math.max(10, Math.floor(opts.leaseMs / 3)));
  timer.unref();

  return {
    keyOf,
    renewLeases,
    async admit(input: AdmitInput): Promise<AdmitOutput> {
      const nb = input.buckets.length;
      const ns = input.slots.length;
      const budgets = input.budgets ?? [];
      const nbud = budgets.length;
      const reply = await cmd.llmProxyRateLimitAdmit(
        nb + ns + nbud,
        ...input.buckets.map((b) => keyOf(b.id)),
        ...input.slots.map((s) => keyOf(s.id)),
        ...budgets.map((b) => keyOf(b.id)),
        nb,
        ns,
        input.slotId,
        opts.leaseMs,
        nowArg(),
        ...input.buckets.flatMap((b) => [b.capacity, b.cost]),
        ...input.slots.map((s) => s.max),
        ...budgets.flatMap((b) => [b.limit, b.cost, b.expireAt ?? '']),
      );
      const admitted = Number(reply[0]) === 1;
      if (admitted && ns > 0) open.set(input.slotId, input.slots.map((s) => s.id));
      return {
        admitted,
        now: Number(reply[1]),
        tats: reply.slice(2, 2 + nb).map(Number),
        inUse: reply.slice(2 + nb, 2 + nb + ns).map(Number),
        spent: reply.slice(2 + nb + ns, 2 + nb + ns + nbud).map(Number),
      };
    },
    async settle(input: SettleInput): Promise<SettleOutput> {
      // Forget the slot first: if the release fails, its lease simply runs out.
      open.delete(input.slotId);
      const nb = input.buckets.length;
      const ns = input.slots.length;
      const budgets = input.budgets ?? [];
      const reply = await cmd.llmProxyRateLimitSettle(
        nb + ns + budgets.length,
        ...input.buckets.map((b) => keyOf(b.id)),
        ...input.slots.map((id) => keyOf(id)),
        ...budgets.map((b) => keyOf(b.id)),
        nb,
        ns,
        input.slotId,
        nowArg(),
        ...input.buckets.flatMap((b) => [b.capacity, b.delta]),
        ...budgets.flatMap((b) => [b.delta, b.expireAt ?? '']),
      );
      return {
        now: Number(reply[0]),
        tats: reply.slice(1, 1 + nb).map(Number),
        inUse: reply.slice(1 + nb, 1 + nb + ns).map(Number),
        spent: reply.slice(1 + nb + ns, 1 + nb + ns + budgets.length).map(Number),
      };
    },
    async close() {
      clearInterval(timer);
    },
  };
}

/** A process-unique prefix for slot ids, so two instances never name a slot alike. */
export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}
