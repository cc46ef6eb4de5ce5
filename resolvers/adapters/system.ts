/** The real clock and randomness, for the composition roots. */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock, RandomSource } from '../core/ports.ts';

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: async (ms) => {
    await delay(ms);
  },
};

export const systemRandom: RandomSource = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
};
