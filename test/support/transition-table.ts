/**
 * A state × transition table as test cases: every transition applied to every state, with the outcome the table
 * writes for the pair, or `unlisted` when it writes none (a table that must be complete makes that fail).
 */
import type { DeviceRecord } from '../../resolvers/core/device.ts';
import type { Transition } from '../../resolvers/core/device-lifecycle.ts';

export function transitionCases(
  states: Readonly<Record<string, DeviceRecord>>,
  transitions: Readonly<Record<string, (record: DeviceRecord) => Transition>>,
  expected: Readonly<Record<string, Readonly<Partial<Record<string, string>>>>>,
  unlisted: string,
) {
  return Object.entries(states).flatMap(([state, record]) =>
    Object.entries(transitions).map(([transition, apply]) => ({
      state,
      transition,
      record,
      apply,
      expected: expected[state]?.[transition] ?? unlisted,
    })),
  );
}
