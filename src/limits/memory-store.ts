/**
 * The in-memory store: one instance's limits, nothing to install (issue 4). Also the fallback
 * when Redis is unreachable and `rateLimit.redisFailure` is `local`.
 *
 * Uses the injected clock's monotonic time, so wall-clock jumps do not refill or drain buckets.
 * Every operation is synchronous, hence atomic. Memory stays bounded: bucket and slot ids come
 * from configured names (keys, models, upstreams), and a bucket that is full again is deleted.
 */
import type { Clock } from '../clock.js';
import { adjust, charge } from './gcra.js';
import type { AdmitInput, AdmitOutput, LimitStore, SettleInput, SettleOutput } from './store.js';

export interface MemoryStore extends LimitStore {
  /** Open slots per slot set id (tests). */
  inUse(id: string): number;
}

export function createMemoryStore(clock: Clock): MemoryStore {
  const tats = new Map<string, number>();
  const slots = new Map<string, number>();

  const setTat = (id: string, tat: number, now: number): void => {
    if (tat > now) tats.set(id, tat);
    else tats.delete(id); // full again: same as absent
  };

  const admitSync = (input: AdmitInput): AdmitOutput => {
    const now = clock.monotonic();
    const current = input.buckets.map((b) => tats.get(b.id) ?? 0);
    const inUse = input.slots.map((s) => slots.get(s.id) ?? 0);
    const charged = input.buckets.map((b, i) => charge(current[i]!, now, b.capacity, b.cost));
    const admitted = charged.every((c) => c.ok) && input.slots.every((s, i) => inUse[i]! < s.max);
    if (!admitted) return { admitted, now, tats: current, inUse };
    const after = charged.map((c) => (c.ok ? c.tat : 0));
    input.buckets.forEach((b, i) => setTat(b.id, after[i]!, now));
    input.slots.forEach((s, i) => slots.set(s.id, inUse[i]! + 1));
    return { admitted, now, tats: after, inUse: inUse.map((n) => n + 1) };
  };

  const settleSync = (input: SettleInput): SettleOutput => {
    const now = clock.monotonic();
    const after = input.buckets.map((b) => {
      const tat = adjust(tats.get(b.id) ?? 0, now, b.capacity, b.delta);
      setTat(b.id, tat, now);
      return tat;
    });
    const inUse = input.slots.map((id) => {
      const n = Math.max(0, (slots.get(id) ?? 0) - 1);
      if (n === 0) slots.delete(id);
      else slots.set(id, n);
      return n;
    });
    return { now, tats: after, inUse };
  };

  return {
    admit: async (input) => admitSync(input),
    settle: async (input) => settleSync(input),
    close: async () => {},
    inUse: (id) => slots.get(id) ?? 0,
  };
}
