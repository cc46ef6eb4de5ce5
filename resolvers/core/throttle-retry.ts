/**
 * Retry calls that AWS throttled, with exponential backoff and full jitter, until a deadline.
 * Past the deadline the caller gets `Throttled`, which clients retry later.
 */
import { CvmError, ThrottledError } from './errors.ts';
import type { CoreContext } from './context.ts';

const BASE_DELAY_MS = 50;
const MAX_DELAY_MS = 2_000;

export async function retryThrottled<T>(
  ctx: Pick<CoreContext, 'clock' | 'random' | 'telemetry'>,
  deadline: number,
  call: () => Promise<T>,
): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ThrottledError)) throw error;
      ctx.telemetry.count('Throttled');
      const delay = jitter(ctx, Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt));
      if (ctx.clock.now().getTime() + delay >= deadline) {
        throw new CvmError('Throttled', 'AWS is throttling certificate requests right now; retry in a few seconds.', {
          cause: error,
        });
      }
      await ctx.clock.sleep(delay);
    }
  }
}

function jitter(ctx: Pick<CoreContext, 'random'>, ceiling: number): number {
  const [high = 0, low = 0] = ctx.random.bytes(2);
  return Math.floor((((high << 8) | low) / 0x10000) * ceiling);
}
