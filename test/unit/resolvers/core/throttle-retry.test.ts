import { describe, expect, it } from 'vitest';
import { CvmError, ThrottledError } from '../../../../resolvers/core/errors.ts';
import type { MetricName } from '../../../../resolvers/core/ports.ts';
import { retryThrottled } from '../../../../resolvers/core/throttle-retry.ts';

/** A clock that moves only when slept on, and a record of every sleep. */
function harness(randomByte = 0xff) {
  let now = 1_000_000;
  const sleeps: number[] = [];
  const metrics: MetricName[] = [];
  return {
    sleeps,
    metrics,
    ctx: {
      clock: {
        now: () => new Date(now),
        sleep: (ms: number) => {
          sleeps.push(ms);
          now += ms;
          return Promise.resolve();
        },
      },
      random: { bytes: (length: number) => new Uint8Array(length).fill(randomByte) },
      telemetry: { log: () => undefined, count: (metric: MetricName) => void metrics.push(metric) },
    },
    get now() {
      return now;
    },
  };
}

function throttledTimes(times: number) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    call: () => {
      calls += 1;
      return calls <= times ? Promise.reject(new ThrottledError('slow down')) : Promise.resolve('done');
    },
  };
}

describe('retryThrottled', () => {
  it('returns at once when the call is not throttled', async () => {
    const h = harness();
    await expect(retryThrottled(h.ctx, h.now + 10_000, () => Promise.resolve(7))).resolves.toBe(7);
    expect(h.sleeps).toEqual([]);
  });

  it('retries a throttled call with growing, capped, jittered delays and counts each throttle', async () => {
    const h = harness();
    const call = throttledTimes(7);
    await expect(retryThrottled(h.ctx, h.now + 60_000, call.call)).resolves.toBe('done');
    expect(call.calls).toBe(8);
    expect(h.metrics).toEqual(Array(7).fill('Throttled'));
    // Full jitter below a ceiling of 50 ms doubling per attempt, capped at 2 s (random bytes 0xffff: just under it).
    const ceilings = [50, 100, 200, 400, 800, 1600, 2000];
    expect(h.sleeps).toEqual(ceilings.map((ceiling) => Math.floor((0xffff / 0x10000) * ceiling)));
  });

  it('answers Throttled instead of sleeping past the deadline', async () => {
    const h = harness();
    const call = throttledTimes(Infinity);
    const error: unknown = await retryThrottled(h.ctx, h.now + 500, call.call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CvmError);
    expect((error as CvmError).errorType).toBe('Throttled');
    expect(h.now).toBeLessThan(1_000_000 + 500);
  });

  it('passes any other error through without retrying', async () => {
    const h = harness();
    let calls = 0;
    const failing = () => {
      calls += 1;
      return Promise.reject(new Error('broken'));
    };
    await expect(retryThrottled(h.ctx, h.now + 10_000, failing)).rejects.toThrow('broken');
    expect(calls).toBe(1);
  });
});
