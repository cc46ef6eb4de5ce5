import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../../resolvers/core/context.ts';
import { budgetWithin } from '../../../resolvers/lambda.ts';

describe('budgetWithin', () => {
  it('keeps the default budget when the invocation has time for it (the construct gives 25 s)', () => {
    expect(budgetWithin(DEFAULT_SETTINGS, 24_900)).toBe(DEFAULT_SETTINGS);
  });

  it.each([
    [15_000, 5_000],
    [10_000, 0],
    [3_000, 0],
  ])('with %i ms left, retries throttled calls for at most %i ms', (remaining, budget) => {
    const settings = budgetWithin(DEFAULT_SETTINGS, remaining);
    expect(settings.requestBudgetMs).toBe(budget);
    expect(settings.compensationBudgetMs).toBe(DEFAULT_SETTINGS.compensationBudgetMs);
  });
});
