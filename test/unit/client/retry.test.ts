import { describe, expect, it } from 'vitest';
import { backoffDelay, retryWithBackoff } from '../../../client/retry.ts';

describe('backoffDelay', () => {
  it.each([
    { attempt: 1, random: 0.5, expected: 250 },
    { attempt: 2, random: 0.5, expected: 500 },
    { attempt: 3, random: 0, expected: 0 },
    { attempt: 6, random: 0.5, expected: 5000 },
    { attempt: 7, random: 0.5, expected: 5000 },
    { attempt: 30, random: 0.999, expected: 9990 },
  ])('waits $expected ms after attempt $attempt when random() is $random', ({ attempt, random, expected }) => {
    expect(backoffDelay(attempt, { baseDelayMs: 500, maxDelayMs: 10_000, random: () => random })).toBe(expected);
  });
});

describe('retryWithBackoff', () => {
  it('reports each retry before waiting', async () => {
    const events: string[] = [];
    let calls = 0;

    const result = await retryWithBackoff(
      (attempt) => {
        calls += 1;
        if (attempt < 3) return Promise.reject(new Error(`failure ${attempt}`));
        return Promise.resolve('done');
      },
      {
        isRetryable: () => true,
        random: () => 0.5,
        sleep: (ms) => {
          events.push(`sleep ${ms}`);
          return Promise.resolve();
        },
        onRetry: (event) => events.push(`retry after ${(event.error as Error).message}`),
      },
    );

    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(events).toEqual(['retry after failure 1', 'sleep 250', 'retry after failure 2', 'sleep 500']);
  });

  it('treats attempts below 1 as one attempt', async () => {
    let calls = 0;
    const failure = new Error('no');

    await expect(
      retryWithBackoff(
        () => {
          calls += 1;
          return Promise.reject(failure);
        },
        { attempts: 0, isRetryable: () => true, sleep: () => Promise.resolve() },
      ),
    ).rejects.toBe(failure);
    expect(calls).toBe(1);
  });
});
