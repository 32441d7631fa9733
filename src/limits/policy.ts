/**
 * Limiter policy, pure: which buckets and slot sets a request touches, how many tokens it
 * reserves, and — from the numbers a store returns — the x-ratelimit-* headers and the 429.
 *
 * Scopes: the client key (`keys[].limits`), the upstream (`rateLimit.upstreams[<name>]`), and
 * every `rateLimit.models` entry whose name or glob matches the model (a glob such as `gpt-*` is
 * one budget shared by all the models it matches). Each scope may set rpm (a requests bucket),
 * tpm (a tokens bucket) and maxConcurrent (a slot set).
 */
import { compileGlob } from '../glob.js';
import type { Config, LimitsConfig } from '../config/schema.js';
import { RateLimitError } from '../errors.js';
import { formatResetDuration } from './format.js';
import { charge, EPSILON_MS, viewBucket, wholeRemaining, wholeUsed } from './gcra.js';
import type { AdmitOutput, BucketCharge, SlotTake } from './store.js';


/**
 * A wait as shown to the caller: whole ms rounded up, minus the same float slack `charge`
 * allows (EPSILON_MS), so `30000.0001` shows as `30s`, not `30.001s`, and a caller that waits
 * the announced time is still admitted.
 */
const shownMs = (ms: number): number => Math.max(0, Math.ceil(ms - EPSILON_MS));
export type LimitKind = 'requests' | 'tokens' | 'concurrency';
export type ScopeKind = 'key' | 'model' | 'upstream';

export interface Scope {
  kind: ScopeKind;
  name: string;
}

export interface PlannedBucket extends BucketCharge {
  scope: Scope;
  kind: 'requests' | 'tokens';
}

export interface PlannedSlots extends SlotTake {
  scope: Scope;
}

export interface Plan {
  buckets: PlannedBucket[];
  slots: PlannedSlots[];
  /** Tokens reserved (the tokens buckets' cost). */
  reservedTokens: number;
}

/** What the policy needs of a request (the limiter's AdmissionRequest). */
export interface PlanRequest {
  key: { name: string; limits: LimitsConfig };
  model: string;
  upstream: string;
  estimatedTokens: number;
  maxTokens?: number | null | undefined;
}

/**
 * A refusal for concurrency cannot say when a slot frees up; the client is told to come back
 * after this long (Retry-After: 1).
 */
export const CONCURRENCY_RETRY_MS = 1000;

/** Tokens to reserve: estimated prompt tokens + max_tokens, or the configured default completion reservation. */
export function reservationTokens(
  req: Pick<PlanRequest, 'estimatedTokens' | 'maxTokens'>,
  defaultCompletionReservation: number,
): number {
  const completion = req.maxTokens ?? defaultCompletionReservation;
  return Math.max(0, Math.ceil(req.estimatedTokens) + Math.ceil(completion));
}

const idOf = (scope: Scope, what: string): string => `${scope.kind}:${encodeURIComponent(scope.name)}:${what}`;

/** Build the planner for one configuration (model globs compiled once). */
export function createPlanner(rateLimit: Config['rateLimit']) {
  const modelRules = Object.entries(rateLimit.models).map(([pattern, limits]) => ({
    pattern,
    re: compileGlob(pattern),
    limits,
  }));

  return function plan(req: PlanRequest): Plan {
    const reservedTokens = reservationTokens(req, rateLimit.defaultCompletionReservation);
    const scoped: Array<[Scope, LimitsConfig]> = [[{ kind: 'key', name: req.key.name }, req.key.limits]];
    const upstream = rateLimit.upstreams[req.upstream];
    if (upstream) scoped.push([{ kind: 'upstream', name: req.upstream }, upstream]);
    for (const rule of modelRules) {
      if (rule.re.test(req.model)) scoped.push([{ kind: 'model', name: rule.pattern }, rule.limits]);
    }
    const buckets: PlannedBucket[] = [];
    const slots: PlannedSlots[] = [];
    for (const [scope, limits] of scoped) {
      if (limits.rpm !== undefined) {
        buckets.push({ id: idOf(scope, 'requests'), scope, kind: 'requests', capacity: limits.rpm, cost: 1 });
      }
      if (limits.tpm !== undefined) {
        buckets.push({ id: idOf(scope, 'tokens'), scope, kind: 'tokens', capacity: limits.tpm, cost: reservedTokens });
      }
      if (limits.maxConcurrent !== undefined) {
        slots.push({ id: idOf(scope, 'slots'), scope, max: limits.maxConcurrent });
      }
    }
    return { buckets, slots, reservedTokens };
  };
}

/**
 * OpenAI's x-ratelimit-* headers for the buckets at `now`. Where several scopes limit the same
 * thing (key and model rpm, say), the headers describe the tightest: the one with the least
 * remaining. Remaining is floored and shown as 0 while a bucket is in debt; reset is the time
 * until that bucket is full again.
 */
export function rateLimitHeaders(buckets: readonly PlannedBucket[], tats: readonly number[], now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ['requests', 'tokens'] as const) {
    let best: { capacity: number; remaining: number; resetMs: number } | undefined;
    buckets.forEach((b, i) => {
      if (b.kind !== kind) return;
      const v = viewBucket(tats[i]!, now, b.capacity);
      const remaining = wholeRemaining(v, b.capacity);
      if (!best || remaining < best.remaining) best = { capacity: b.capacity, remaining, resetMs: v.resetMs };
    });
    if (!best) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(best.capacity);
    headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, best.remaining));
    headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(shownMs(best.resetMs));
  }
  return headers;
}

const scopeText = (s: Scope): string => `${s.kind} ${s.name}`;
const UNIT: Record<'requests' | 'tokens', string> = { requests: 'requests per min (RPM)', tokens: 'tokens per min (TPM)' };

/** One reason a refusal was made, the longest wait first decides the error. */
interface Refusal {
  limit: LimitKind;
  scope: Scope;
  retryMs: number;
  message: string;
  /** Too large to ever fit: the client should not retry. */
  never: boolean;
}

/**
 * Why `out` (a store's refusal, numbers untouched) refused `plan`, as the error to throw. Every
 * exhausted bucket and slot set is examined; the one with the longest wait is reported (the
 * request cannot pass before it), and Retry-After is that wait. Messages follow OpenAI's
 * ("Rate limit reached for gpt-4 in organization org-… on requests per min (RPM): Limit 3,
 * Used 3, Requested 1. Please try again in 20s."), naming our scope instead of an organization.
 * A tokens reservation larger than the whole tpm can never pass: like OpenAI we say "Request too
 * large", and add `x-should-retry: false` so the OpenAI SDKs do not retry it.
 */
export function refusalError(plan: Plan, model: string, out: AdmitOutput): { error: RateLimitError; refusal: Refusal } {
  const refusals: Refusal[] = [];
  plan.buckets.forEach((b, i) => {
    const tat = out.tats[i]!;
    const r = charge(tat, out.now, b.capacity, b.cost);
    if (r.ok) return;
    const v = viewBucket(tat, out.now, b.capacity);
    const at = `${model} on ${scopeText(b.scope)} on ${UNIT[b.kind]}`;
    if (r.retryMs === Infinity) {
      refusals.push({
        limit: b.kind,
        scope: b.scope,
        retryMs: Math.max(v.resetMs, CONCURRENCY_RETRY_MS),
        never: true,
        message: `Request too large for ${at}: Limit ${b.capacity}, Requested ${b.cost}. The input or output tokens must be reduced in order to run successfully.`,
      });
      return;
    }
    const retryMs = shownMs(r.retryMs);
    refusals.push({
      limit: b.kind,
      scope: b.scope,
      retryMs,
      never: false,
      message: `Rate limit reached for ${at}: Limit ${b.capacity}, Used ${wholeUsed(v, b.capacity)}, Requested ${b.cost}. Please try again in ${formatResetDuration(retryMs)}.`,
    });
  });
  plan.slots.forEach((s, i) => {
    const n = out.inUse[i]!;
    if (n < s.max) return;
    refusals.push({
      limit: 'concurrency',
      scope: s.scope,
      retryMs: CONCURRENCY_RETRY_MS,
      never: false,
      message: `Rate limit reached for ${model} on ${scopeText(s.scope)} on concurrent requests: Limit ${s.max}, Used ${n}, Requested 1. Please try again in ${formatResetDuration(CONCURRENCY_RETRY_MS)}.`,
    });
  });
  // A store refused, so something is exhausted; the fallback only guards against a store bug.
  const refusal = refusals.reduce<Refusal | undefined>(
    (worst, r) => (!worst || (r.never && !worst.never) || (r.never === worst.never && r.retryMs > worst.retryMs) ? r : worst),
    undefined,
  ) ?? {
    limit: 'requests',
    scope: { kind: 'key', name: '?' },
    retryMs: CONCURRENCY_RETRY_MS,
    never: false,
    message: 'Rate limit reached. Please try again in 1s.',
  };
  const headers = rateLimitHeaders(plan.buckets, out.tats, out.now);
  if (refusal.never) headers['x-should-retry'] = 'false';
  return { error: new RateLimitError(refusal.limit, refusal.message, refusal.retryMs, headers), refusal };
}
