/**
 * Budget pricing (README "Budgets"): cached prompt tokens at the price's `cachedPrompt`, the rest
 * of the prompt at `prompt` (src/limits/budget-math.ts costNano, src/limits/budget-policy.ts
 * budgetDelta). Prices are USD per million tokens; costs whole nano-dollars.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { costNano, type TokenPrice } from '../../src/limits/budget-math.js';
import { budgetDelta, type PlannedBudget } from '../../src/limits/budget-policy.js';

const GPT_4O: TokenPrice = { prompt: 2.5, completion: 10, cachedPrompt: 1.25 };

describe('budget pricing: cached prompt tokens', () => {
  it('prices (prompt − cached) at prompt, cached at cachedPrompt, completion at completion', () => {
    // 1,000 uncached × 2,500 + 1,000 cached × 1,250 + 100 × 10,000 nano-dollars.
    assert.equal(costNano(GPT_4O, 2000, 100, 1000), 2_500_000 + 1_250_000 + 1_000_000);
    assert.equal(costNano(GPT_4O, 2000, 100), 5_000_000 + 1_000_000, 'no cached tokens: every prompt token at prompt');
    assert.equal(costNano(GPT_4O, 2000, 100, 0), costNano(GPT_4O, 2000, 100));
    // A price without cachedPrompt: cached tokens cost what the others do.
    assert.equal(costNano({ prompt: 2.5, completion: 10 }, 2000, 100, 1000), 6_000_000);
    // Free cached tokens are free.
    assert.equal(costNano({ prompt: 1, completion: 1, cachedPrompt: 0 }, 10, 0, 10), 0);
  });

  it('never negative, never below the all-cached price, never above the uncached one (random usage)', () => {
    fc.assert(
      fc.property(fc.nat(1e7), fc.nat(1e7), fc.integer({ min: -10, max: 2e7 }), (prompt, completion, cached) => {
        const c = costNano(GPT_4O, prompt, completion, cached);
        assert.ok(c >= costNano(GPT_4O, prompt, completion, prompt), `${c} below all cached`);
        assert.ok(c <= costNano(GPT_4O, prompt, completion), `${c} above none cached`);
      }),
      { numRuns: 500 },
    );
    // More cached than prompt (an odd server) is the whole prompt cached, no more.
    assert.equal(costNano(GPT_4O, 100, 0, 1_000), costNano(GPT_4O, 100, 0, 100));
  });

  it('settles a budget to the cached price: the delta against the reservation', () => {
    const b: PlannedBudget = { name: 'team', price: GPT_4O, end: null, charge: { id: 'budget:team:total', limit: 1e9, cost: 10_000_000, expireAt: null } };
    assert.equal(budgetDelta(b, null, { promptTokens: 2000, completionTokens: 100, cachedPromptTokens: 1000 }), 4_750_000 - 10_000_000);
    assert.equal(budgetDelta(b, null, { promptTokens: 2000, completionTokens: 100 }), 6_000_000 - 10_000_000, 'usage without the field');
    assert.equal(budgetDelta(b, 2100, undefined), 2100 * 10_000 - 10_000_000, 'split unknown: the dearest price');
  });
});
