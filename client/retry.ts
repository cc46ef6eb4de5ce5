/**
 * Retrying with exponential backoff and full jitter: the wait before retry n is uniform in
 * [0, min(maxDelayMs, baseDelayMs * 2^(n-1))). Jitter keeps a fleet of devices that failed together
 * from retrying together (see the AWS Architecture Blog, "Exponential Backoff And Jitter").
 */

export interface RetryOptions {
  /**
   * Calls in all, the first included. Default 18: with full jitter that waits over a minute on average, long
   * enough to outlast the server's 60 s claim on a device whose earlier request crashed mid-issuance.
   */
  readonly attempts?: number;
  /** Ceiling of the first wait. Default 500 ms. */
  readonly baseDelayMs?: number;
  /** Ceiling of any wait. Default 10 s. */
  readonly maxDelayMs?: number;
  /** Default: a timer. Tests pass one that records the delays. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export interface RetryEvent {
  readonly error: unknown;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly attempts: number;
  readonly delayMs: number;
}

export const DEFAULT_RETRY = { attempts: 18, baseDelayMs: 500, maxDelayMs: 10_000 } as const;

/** The wait before the retry that follows failed attempt `attempt` (from 1). */
export function backoffDelay(
  attempt: number,
  options: { baseDelayMs: number; maxDelayMs: number; random: () => number },
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(options.random() * ceiling);
}

/**
 * Call `operation` until it succeeds, fails with an error `isRetryable` rejects, or the attempts run out;
 * then rethrow the last error as it was.
 */
export async function retryWithBackoff<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions & {
    isRetryable: (error: unknown) => boolean;
    onRetry?: (event: RetryEvent) => void;
  },
): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts ?? DEFAULT_RETRY.attempts));
  const timing = {
    baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    random: options.random ?? Math.random,
  };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= attempts || !options.isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt, timing);
      options.onRetry?.({ error, attempt, attempts, delayMs });
      await sleep(delayMs);
    }
  }
}
