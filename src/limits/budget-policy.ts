/**
 * Spend budgets' policy (README "Budgets"): what a request of a budgeted key reserves, what it
 * is settled to, and the headers and 429 that come of the store's numbers. Works like the tokens
 * limit (policy.ts): reserve the estimated prompt plus the completion budget at admission, correct
 * to the real usage at the end.
 */
import type { Config } from '../config/schema.js';
import { InsufficientQuotaError } from '../errors.js';
import {
  budgetHeaders,
  budgetPeriodId,
  budgetRefusalMessage,
  costNano,
  NANO_PER_USD,
  periodBounds,
  priceOf,
  type BudgetPeriod,
  type TokenPrice,
} from './budget-math.js';
import type { BudgetCharge } from './store.js';

export interface BudgetRequest {
  /** The key's `budget`, if any. */
  budget?: string | undefined;
  model: string;
  /** The route's label (the second place a price is looked up). */
  label: string;
  estimatedTokens: number;
  maxTokens?: number | null | undefined;
}

export interface PlannedBudget {
  name: string;
  charge: BudgetCharge;
  price: TokenPrice;
  /** The period's end (wall ms), null for `total`. */
  end: number | null;
}

/** Tokens actually used, as the usage tracker reports them. */
export interface SpendUsage {
  promptTokens: number;
  completionTokens: number;
  /** Of `promptTokens`, those served from the upstream's prompt cache (src/usage/chunk.ts); 0 if absent. */
  cachedPromptTokens?: number | undefined;
}

/**
 * No price: only model-less requests (files, `GET /v1/responses/:id`) get here, since a budgeted
 * key that could reach an unpriced model is refused at load time (src/config/budgets.ts); they run
 * no tokens, so they cost nothing.
 */
const FREE: TokenPrice = Object.freeze({ prompt: 0, completion: 0 });

/** Build the budget planner for one configuration. */
export function createBudgetPlanner(config: Pick<Config, 'budgets' | 'metrics' | 'rateLimit'>) {
  const prices = new Map<string, TokenPrice>(Object.entries(config.metrics.prices));
  const defaultCompletion = config.rateLimit.defaultCompletionReservation;
  /** The current period per budget: dates and ids are built once a period, not per request. */
  const current = new Map<string, { start: number; end: number | null; id: string }>();
  const periodOf = (name: string, period: BudgetPeriod, wallNow: number) => {
    let p = current.get(name);
    if (!p || wallNow < p.start || (p.end !== null && wallNow >= p.end)) {
      const { start, end } = periodBounds(period, wallNow);
      p = { start, end, id: budgetPeriodId(name, start) };
      current.set(name, p);
    }
    return p;
  };

  return function planBudget(req: BudgetRequest, wallNow: number): PlannedBudget | null {
    if (req.budget === undefined) return null;
    const b = config.budgets[req.budget];
    if (!b) return null; // unreachable: load.ts refuses a key naming an unknown budget
    const price = priceOf(prices, req.model, req.label) ?? FREE;
    const { end, id } = periodOf(req.budget, b.period, wallNow);
    const cost = costNano(price, Math.ceil(req.estimatedTokens), Math.ceil(req.maxTokens ?? defaultCompletion));
    return {
      name: req.budget,
      price,
      end,
      charge: { id, limit: Math.round(b.usd * NANO_PER_USD), cost, expireAt: end },
    };
  };
}

/**
 * The correction at settle time, in nano-dollars: the real cost minus the reservation, cached
 * prompt tokens at the price's `cachedPrompt`. With the usage split unknown (`actualTotal` only),
 * every token is priced at the dearest of the prices, so the budget is never under-charged; null
 * keeps the reservation.
 */
export function budgetDelta(b: PlannedBudget, actualTotal: number | null, usage: SpendUsage | undefined): number {
  if (usage) return costNano(b.price, usage.promptTokens, usage.completionTokens, usage.cachedPromptTokens ?? 0) - b.charge.cost;
  if (actualTotal === null) return 0;
  const dearest = Math.max(b.price.prompt, b.price.completion, b.price.cachedPrompt ?? 0);
  return costNano({ prompt: dearest, completion: dearest }, actualTotal, 0) - b.charge.cost;
}

/** Did the budget refuse (rather than a rate limit)? `spent` is the store's, before charging. */
export function budgetRefused(b: PlannedBudget, spent: number): boolean {
  return spent + b.charge.cost > b.charge.limit;
}

/** The x-budget-* headers after an admission (`spent` includes this request's reservation). */
export function plannedBudgetHeaders(b: PlannedBudget, spent: number): Record<string, string> {
  return budgetHeaders(b.charge.limit, spent, b.end);
}

/** The 429 `insufficient_quota` for a refused budget. */
export function budgetError(b: PlannedBudget, spent: number): InsufficientQuotaError {
  return new InsufficientQuotaError(budgetRefusalMessage(b.name, b.charge.limit, spent, b.charge.cost, b.end), plannedBudgetHeaders(b, spent));
}
