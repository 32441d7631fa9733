/**
 * Spend budgets' arithmetic, pure: calendar periods in UTC, the price of tokens, and how amounts
 * are shown. Imports nothing of the app.
 *
 * Amounts are whole nano-dollars (1e-9 USD) everywhere a store keeps or compares them: prices are
 * USD per million tokens, so one token at `p` costs `p × 1000` nano-dollars, exact for prices with
 * up to three decimals, and integers add up without float drift in Lua (INCRBY) or in memory. A
 * cost is rounded up, so the proxy never under-charges. 2^53 nano-dollars is ~9 million USD, the
 * largest budget that stays exact.
 */

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';

/** USD per million tokens, as `metrics.prices` gives them. */
export interface TokenPrice {
  prompt: number;
  completion: number;
  /** Prompt tokens served from the upstream's prompt cache; `prompt` when not given. */
  cachedPrompt?: number | undefined;
}

export const NANO_PER_USD = 1e9;

/** The period that holds `nowMs`: its start, and its end (null for `total`, which never resets). */
export function periodBounds(period: BudgetPeriod, nowMs: number): { start: number; end: number | null } {
  const d = new Date(nowMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (period) {
    case 'day':
      return { start: Date.UTC(y, m, day), end: Date.UTC(y, m, day + 1) };
    case 'week': {
      // ISO weeks start on Monday: getUTCDay() is 0 for Sunday, so Sunday is 6 days in.
      const back = (d.getUTCDay() + 6) % 7;
      return { start: Date.UTC(y, m, day - back), end: Date.UTC(y, m, day - back + 7) };
    }
    case 'month':
      return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    case 'total':
      return { start: 0, end: null };
  }
}

/**
 * The store id of a budget's current period: a new period is a new id, so a period resets without
 * anyone clearing anything (the old id expires at its period's end).
 */
export function budgetPeriodId(name: string, start: number): string {
  return `budget:${encodeURIComponent(name)}:${start === 0 ? 'total' : new Date(start).toISOString().slice(0, 10)}`;
}

/**
 * The price of `model`: by its own name first, then by its route's label (src/upstream/router.ts),
 * the same lookup `llm_proxy_cost_usd_total` uses (src/metrics.ts).
 */
export function priceOf(prices: ReadonlyMap<string, TokenPrice>, model: string, label: string): TokenPrice | undefined {
  return prices.get(model) ?? prices.get(label);
}

/**
 * The cost of tokens in whole nano-dollars, rounded up. `cachedPromptTokens` are part of
 * `promptTokens` (as OpenAI's `prompt_tokens_details.cached_tokens` are) and cost `cachedPrompt`
 * each instead of `prompt`; clamped to the prompt, so an odd count never makes a negative cost.
 */
export function costNano(price: TokenPrice, promptTokens: number, completionTokens: number, cachedPromptTokens = 0): number {
  const prompt = Math.max(0, promptTokens);
  const cached = Math.min(prompt, Math.max(0, cachedPromptTokens));
  const raw =
    (prompt - cached) * price.prompt * 1000 +
    (cached === 0 ? 0 : cached * (price.cachedPrompt ?? price.prompt) * 1000) +
    Math.max(0, completionTokens) * price.completion * 1000;
  // Products like 3 × 0.1 × 1000 land a hair above a whole number; don't round that up. (A zero
  // cost would come out as -0: max makes it 0, test/unit/budget-math.test.ts.)
  return Math.max(0, Math.ceil(raw - 1e-6));
}

/** Nano-dollars as a USD string with six decimals (a millionth of a dollar), e.g. `12.345678`. */
export function formatUsd(nano: number): string {
  return (nano / NANO_PER_USD).toFixed(6);
}

/** ISO text of a period's end: the same few instants over and over, so made once each. */
let lastEnd = NaN;
let lastIso = '';
function isoOf(ms: number): string {
  if (ms !== lastEnd) {
    lastEnd = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** The x-budget-* headers for a budget after an admission or at a refusal. */
export function budgetHeaders(limitNano: number, spentNano: number, end: number | null): Record<string, string> {
  const headers: Record<string, string> = {
    'x-budget-limit-usd': formatUsd(limitNano),
    'x-budget-remaining-usd': formatUsd(Math.max(0, limitNano - spentNano)),
  };
  if (end !== null) headers['x-budget-reset'] = isoOf(end);
  return headers;
}

/** The refusal message: which budget, spent, limit, when it resets. */
export function budgetRefusalMessage(name: string, limitNano: number, spentNano: number, requestedNano: number, end: number | null): string {
  const reset = end === null ? 'It does not reset (period "total").' : `It resets at ${new Date(end).toISOString()}.`;
  return (
    `You exceeded your current quota: budget "${name}" has spent $${formatUsd(spentNano)} of its $${formatUsd(limitNano)} limit, ` +
    `and this request may cost up to $${formatUsd(requestedNano)}. ${reset}`
  );
}
