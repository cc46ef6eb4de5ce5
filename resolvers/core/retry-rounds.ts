/**
 * Every use case that decides on a read and writes with a compare-and-swap loses when the device changes in
 * between; it then reads again and decides again. This bounds how often, for all of them.
 */
import { CvmError } from './errors.ts';

export const MAX_ROUNDS = 8;

/** Run `round` until it returns an answer (anything but `again`), at most MAX_ROUNDS times. */
export async function inRounds<T>(round: () => Promise<T | typeof AGAIN>): Promise<T> {
  for (let attempt = 0; attempt < MAX_ROUNDS; attempt += 1) {
    const answer = await round();
    if (answer !== AGAIN) return answer;
  }
  throw new CvmError('IssuanceInProgress', 'The device keeps changing under this request; retry in a few seconds.');
}

/** What a round returns when it lost a compare-and-swap and must read again. */
export const AGAIN: unique symbol = Symbol('again');
