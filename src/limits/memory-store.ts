/**
 * The in-memory store: one instance's limits, nothing to install. Also the fallback
 * when Redis is unreachable and `rateLimit.redisFailure` is `local`.
 *
 * Uses the injected clock's monotonic time, so wall-clock jumps do not refill or drain buckets.
 * Every operation is synchronous, hence atomic. Memory stays bounded: bucket and slot ids come
 * from configured names (keys, models, upstreams), and a bucket that is full again is deleted.
 * Budget spend is kept per period and forgotten when the process ends (README "Budgets").
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
  /** Budget spend per period id, with the period's end (wall ms; null = never). */
  const spend = new Map<string, { nano: number; expireAt: number | null }>();

  /** Drop ended periods, so memory holds one entry per budget (plus a period being settled). */
  const sweep = (wall: number): void => {
    for (const [id, e] of spend) if (e.expireAt !== null && e.expireAt <= wall) spend.delete(id);
  };
  const spentOf = (id: string): number => spend.get(id)?.nano ?? 0;

  const setTat = (id: string, tat: number, now: number): void => {
    if (tat > now) tats.set(id, tat);
    else tats.delete(id); // full again: same as absent
  };

  const admitSync = (input: AdmitInput): AdmitOutput => {
    const now = clock.monotonic();
    const current = input.buckets.map((b) => tats.get(b.id) ?? 0);
    const inUse = input.slots.map((s) => slots.get(s.id) ?? 0);
    const charged = input.buckets.map((b, i) => charge(current[i]!, now, b.capacity, b.cost));
    const budgets = input.budgets ?? [];
    if (budgets.length > 0) sweep(clock.now());
    const spent = budgets.map((b) => spentOf(b.id));
    const admitted =
      charged.every((c) => c.ok) && input.slots.every((s, i) => inUse[i]! < s.max) && budgets.every((b, i) => spent[i]! + b.cost <= b.limit);
    if (!admitted) return { admitted, now, tats: current, inUse, spent };
    budgets.forEach((b, i) => spend.set(b.id, { nano: spent[i]! + b.cost, expireAt: b.expireAt }));
    const after = charged.map((c) => (c.ok ? c.tat : 0));
    input.buckets.forEach((b, i) => setTat(b.id, after[i]!, now));
    input.slots.forEach((s, i) => slots.set(s.id, inUse[i]! + 1));
    return { admitted, now, tats: after, inUse: inUse.map((n) => n + 1), spent: budgets.map((b, i) => spent[i]! + b.cost) };
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
    const spent = (input.budgets ?? []).map((b) => {
      // A period that ended meanwhile is gone: its correction has nothing left to correct.
      if (b.expireAt !== null && b.expireAt <= clock.now()) return 0;
      const nano = spentOf(b.id) + b.delta;
      spend.set(b.id, { nano, expireAt: b.expireAt });
      return nano;
    });
    return { now, tats: after, inUse, spent };
  };

  return {
    admit: async (input) => admitSync(input),
    settle: async (input) => settleSync(input),
    close: async () => {},
    inUse: (id) => slots.get(id) ?? 0,
  };
}
