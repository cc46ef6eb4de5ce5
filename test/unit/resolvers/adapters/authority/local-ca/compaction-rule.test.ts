import { describe, expect, it } from 'vitest';
import {
  compactionDue,
  DEFAULT_COMPACTION_RULE,
} from '../../../../../../resolvers/adapters/authority/local-ca/compaction-rule.ts';

const MiB = 1024 * 1024;

describe('compactionDue', () => {
  it.each([
    ['a small journal, however stale', 0.5 * MiB, 0, false],
    ['a journal past the floor, less than twice the records', 3 * MiB, 2 * MiB, false],
    ['a journal past the floor, twice the records', 4 * MiB, 2 * MiB, true],
    ['a journal past the floor, over records mostly deleted', MiB, 0, true],
  ])('%s', (_case, journalBytes, liveBytes, due) => {
    expect(compactionDue(DEFAULT_COMPACTION_RULE, journalBytes, liveBytes)).toBe(due);
  });
});
