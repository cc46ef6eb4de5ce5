/**
 * When the registry replaces its journal with a snapshot: once the journal holds at least `minJournalBytes` and at
 * least `liveRatio` times the bytes of the records it describes.
 *
 * Each line holds a whole record, and an enrollment stores its certificate a few times over (created, attached,
 * activated), so the journal grows two to three times faster than the records it describes (measured: 2.6 KB of
 * journal per enrollment for 1 KB of records). With a ratio of 2:
 * - a compaction writes the live records (L bytes) after at least 2·L bytes were appended since the last one, so
 *   snapshots add at most half again to what the journal writes, however large the registry grows;
 * - the files never hold much more than 3·L (the snapshot and the journal), and opening reads no more than that;
 * - the floor keeps a small registry from compacting every few writes: 1 MiB is a few hundred enrollments, and
 *   reading it again at the next start takes milliseconds.
 */
export interface CompactionRule {
  /** Default 1 MiB. */
  readonly minJournalBytes: number;
  /** Default 2. */
  readonly liveRatio: number;
}

export const DEFAULT_COMPACTION_RULE: CompactionRule = { minJournalBytes: 1024 * 1024, liveRatio: 2 };

export function compactionDue(rule: CompactionRule, journalBytes: number, liveBytes: number): boolean {
  return journalBytes >= rule.minJournalBytes && journalBytes >= rule.liveRatio * liveBytes;
}
