/**
 * Admission before spending AWS IoT quota: at most `maxConcurrent` certificate issuances run at once; a request
 * beyond that waits up to `maxWaitMs` for a slot and is otherwise answered `Throttled` before it reads the table or
 * calls AWS IoT, so that the device retries later instead of taking quota from issuances under way. Only
 * requestCertificate is admitted this way: admin fields never queue behind a burst of devices.
 *
 * In AWS the requestCertificate function's reserved concurrency is this cap (Lambda refuses the invocation and
 * the AppSync resolver answers `Throttled`); the local stack, one process, wraps its field resolver with it.
 */
import type { ResolverEnvelope, ResolverEvent } from '../contract/lambda-envelope.ts';
import { isAdmittedField } from '../contract/issuance-capacity.ts';

export interface AdmissionOptions {
  /** Issuances allowed at once; at least 1. */
  readonly maxConcurrent: number;
  /** How long a request may wait for a slot before it is answered `Throttled`. 0: answer at once, as Lambda does. */
  readonly maxWaitMs: number;
}

export type FieldResolverFunction = (event: ResolverEvent) => Promise<ResolverEnvelope>;

const THROTTLED: ResolverEnvelope = {
  error: {
    errorType: 'Throttled',
    message: 'Too many certificates are being issued right now; retry in a few seconds.',
  },
};

/** Wrap a field resolver so that the issuing fields (requestCertificate, renewCertificate) are admitted under the cap and every other field passes. */
export function admitIssuances(resolve: FieldResolverFunction, options: AdmissionOptions): FieldResolverFunction {
  const slots = new IssuanceSlots(options);
  return async (event) => {
    if (!isAdmittedField(event.parentTypeName, event.fieldName)) return resolve(event);
    if (!(await slots.acquire())) return THROTTLED;
    try {
      return await resolve(event);
    } finally {
      slots.release();
    }
  };
}

/** A counting semaphore whose waiters give up after a deadline; first come, first served. */
export class IssuanceSlots {
  readonly #maxConcurrent: number;
  readonly #maxWaitMs: number;
  readonly #waiting: { grant: () => void }[] = [];
  #inUse = 0;

  constructor(options: AdmissionOptions) {
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a whole number of at least 1, not ${options.maxConcurrent}.`);
    }
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxWaitMs = Math.max(0, options.maxWaitMs);
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** True when a slot is now held (release it), false when none came free in time. */
  acquire(): Promise<boolean> {
    if (this.#inUse < this.#maxConcurrent) {
      this.#inUse += 1;
      return Promise.resolve(true);
    }
    if (this.#maxWaitMs === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        resolve(false);
      }, this.#maxWaitMs);
      this.#waiting.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the next waiter, so nobody arriving meanwhile can jump the queue.
    if (next !== undefined) next.grant();
    else this.#inUse -= 1;
  }
}
