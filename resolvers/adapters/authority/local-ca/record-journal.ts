/**
 * Records of a few kinds, keyed by string, all held in memory and stored as an append-only journal plus a snapshot
 * (journal-file.ts, snapshot.ts) in one directory: what the local CA's registry keeps its certificates and things in.
 *
 * - Reads come from memory and need no I/O. Memory holds only what is stored: a change is seen once its write
 *   succeeded, and a failed write leaves memory and the files as they were and fails every change it was to store.
 * - Changes wait in one queue and are applied in the order asked for. All those asked for while a write is in flight
 *   (or in the same turn of the event loop) are applied one after another and stored by the next single append, one
 *   line per record they changed: an enrollment's changes, and those of the enrollments beside it, share writes.
 * - The journal is replaced by a snapshot when it grows well beyond the records (compaction-rule.ts): the snapshot
 *   is written and renamed into place first, then the journal is emptied. Replaying keeps the last line of each
 *   record, and the snapshot holds exactly what the journal's lines say, so a process killed between the two finds
 *   the same records either way.
 * - One process owns the directory: nothing coordinates with another process, and its changes would not be seen.
 */
import { join } from 'node:path';
import { compactionDue, DEFAULT_COMPACTION_RULE, type CompactionRule } from './compaction-rule.ts';
import { JournalFile, NODE_FILE_OPERATIONS, type JournalFileOperations } from './journal-file.ts';
import { encodeEntry, type JournalEntry } from './journal-line.ts';
import { readSnapshot, removeUnfinishedSnapshots, writeSnapshot } from './snapshot.ts';

export const JOURNAL_FILE = 'journal.jsonl';
export const SNAPSHOT_FILE = 'snapshot.jsonl';

/** Each kind of record by name, with its type: `{ certificate: CertificateRecord; thing: ThingRecord }`. */
export type RecordKinds = Record<string, object>;

/**
 * A change to one record: given the record as stored (undefined when absent), return it as it should be
 * stored, or undefined to delete it. Returning `current` itself writes nothing. Throwing leaves the record
 * as it was and rejects the update with that error.
 */
export type RecordChange<T> = (current: T | undefined) => T | undefined;

export interface RecordJournalOptions<Kinds extends RecordKinds> {
  /** Where the journal and the snapshot are kept; it must exist. */
  readonly directory: string;
  readonly kinds: readonly (keyof Kinds & string)[];
  /**
   * Records kept in another form so far (an older layout), under what the files hold. When given, they are written
   * into a snapshot before open() returns, after which the caller may remove their old form.
   */
  readonly migrated?: Iterable<JournalEntry>;
  /** Told of each record a write stored (undefined: deleted), before the changes' promises settle. Must not throw. */
  readonly onStored?: (kind: keyof Kinds & string, key: string, record: object | undefined) => void;
  /** Default: DEFAULT_COMPACTION_RULE. */
  readonly compaction?: CompactionRule;
  /** Default: node:fs. Tests pass operations that fail. */
  readonly fileOperations?: JournalFileOperations;
}

interface StoredRecord {
  readonly record: object;
  /** Length of its line, which a snapshot would write again. */
  readonly bytes: number;
}

interface QueuedChange {
  readonly kind: string;
  readonly key: string;
  readonly change: RecordChange<object>;
  readonly resolve: (record: object | undefined) => void;
  readonly reject: (error: unknown) => void;
}

export class RecordJournal<Kinds extends RecordKinds> {
  private readonly records = new Map<string, Map<string, StoredRecord>>();
  /** Sum of the lines of the live records: the size of a snapshot written now. */
  private liveBytes = 0;
  private queue: QueuedChange[] = [];
  private draining = false;
  /** Settles when the changes asked for so far are stored (or failed). */
  private drained: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly snapshotPath: string,
    private readonly journal: JournalFile,
    kinds: readonly string[],
    private readonly onStored: (kind: string, key: string, record: object | undefined) => void,
    private readonly compaction: CompactionRule,
  ) {
    for (const kind of kinds) this.records.set(kind, new Map());
  }

  /** Reads the snapshot, then the journal (cutting off a line a killed process left torn), into memory. */
  static async open<Kinds extends RecordKinds>(options: RecordJournalOptions<Kinds>): Promise<RecordJournal<Kinds>> {
    const kinds = new Set<string>(options.kinds);
    const snapshotPath = join(options.directory, SNAPSHOT_FILE);
    await removeUnfinishedSnapshots(snapshotPath);
    const snapshot = await readSnapshot(snapshotPath, kinds);
    const { file, entries } = await JournalFile.open(
      join(options.directory, JOURNAL_FILE),
      kinds,
      options.fileOperations ?? NODE_FILE_OPERATIONS,
    );
    const records = new RecordJournal<Kinds>(
      snapshotPath,
      file,
      options.kinds,
      options.onStored ?? (() => undefined),
      options.compaction ?? DEFAULT_COMPACTION_RULE,
    );
    try {
      if (options.migrated !== undefined) {
        for (const entry of options.migrated) records.remember(entry.kind, entry.key, entry.record);
      }
      // Last writer wins: the snapshot's lines, then the journal's, each replacing what came before.
      for (const entry of [...(snapshot ?? []), ...entries]) {
        records.remember(entry.kind, entry.key, entry.record, entry.bytes);
      }
      // A new registry starts with an empty snapshot, so that it always has both files (a reader replays both).
      if (snapshot === undefined || options.migrated !== undefined) await records.compact();
    } catch (error) {
      await file.close();
      throw error;
    }
    return records;
  }

  /** The record as stored; a change in flight is not seen until it is stored. */
  get<K extends keyof Kinds & string>(kind: K, key: string): Kinds[K] | undefined {
    return this.recordsOf(kind).get(key)?.record as Kinds[K] | undefined;
  }

  /** Every record of `kind` as stored, in no particular order. */
  all<K extends keyof Kinds & string>(kind: K): Kinds[K][] {
    return Array.from(this.recordsOf(kind).values(), (stored) => stored.record as Kinds[K]);
  }

  /** Apply `change` to the record after every change asked for before it; resolves to the result once stored. */
  update<K extends keyof Kinds & string>(
    kind: K,
    key: string,
    change: RecordChange<Kinds[K]>,
  ): Promise<Kinds[K] | undefined> {
    if (this.closed) return Promise.reject(new Error('The registry is closed.'));
    return new Promise((resolve, reject) => {
      this.queue.push({
        kind,
        key,
        // Records of `kind` are stored only by changes to `kind`: what the queue holds as an object is a Kinds[K].
        change: (current) => change(current as Kinds[K] | undefined),
        resolve: (record) => resolve(record as Kinds[K] | undefined),
        reject,
      });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  /** Stores the changes already asked for, then closes the journal: later changes are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drained;
    await this.journal.close();
  }

  /** Stores the queued changes, batch after batch, until none is left. Never rejects. */
  private async drain(): Promise<void> {
    // The changes asked for in this same turn join the first batch.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.store(batch);
    }
    this.draining = false;
  }

  private async store(batch: readonly QueuedChange[]): Promise<void> {
    const staged = new Map<string, Map<string, object | undefined>>();
    const outcomes = batch.map((entry) => {
      const ofKind = staged.get(entry.kind) ?? new Map<string, object | undefined>();
      staged.set(entry.kind, ofKind);
      try {
        const current = ofKind.has(entry.key)
          ? ofKind.get(entry.key)
          : this.recordsOf(entry.kind).get(entry.key)?.record;
        const next = entry.change(current);
        ofKind.set(entry.key, next);
        return { entry, applied: true as const, record: next };
      } catch (error) {
        return { entry, applied: false as const, error };
      }
    });
    const changed: JournalEntry[] = [];
    for (const [kind, ofKind] of staged) {
      for (const [key, record] of ofKind) {
        if (record !== this.recordsOf(kind).get(key)?.record) changed.push({ kind, key, record });
      }
    }
    if (changed.length > 0) {
      let lines: { entry: JournalEntry; line: Buffer }[];
      try {
        lines = changed.map((entry) => ({ entry, line: encodeEntry(entry) }));
        if (compactionDue(this.compaction, this.journal.length, this.liveBytes)) await this.compact();
        await this.journal.append(Buffer.concat(lines.map(({ line }) => line)));
      } catch (error) {
        for (const outcome of outcomes) outcome.entry.reject(outcome.applied ? error : outcome.error);
        return;
      }
      for (const { entry, line } of lines) {
        this.remember(entry.kind, entry.key, entry.record, line.length);
        this.onStored(entry.kind, entry.key, entry.record);
      }
    }
    for (const outcome of outcomes) {
      if (outcome.applied) outcome.entry.resolve(outcome.record);
      else outcome.entry.reject(outcome.error);
    }
  }

  /**
   * Writes every stored record into a new snapshot, then empties the journal. Only while no write is in flight: the
   * snapshot must hold exactly what the journal says, nothing the journal does not hold yet.
   */
  private async compact(): Promise<void> {
    const entries: JournalEntry[] = [];
    for (const [kind, ofKind] of this.records) {
      for (const [key, { record }] of ofKind) entries.push({ kind, key, record });
    }
    await writeSnapshot(this.snapshotPath, entries);
    await this.journal.clear();
  }

  /** Takes `record` (undefined: deleted) as stored, its line `bytes` long (measured when not given). */
  private remember(kind: string, key: string, record: object | undefined, bytes?: number): void {
    const ofKind = this.recordsOf(kind);
    this.liveBytes -= ofKind.get(key)?.bytes ?? 0;
    if (record === undefined) {
      ofKind.delete(key);
      return;
    }
    const length = bytes ?? encodeEntry({ kind, key, record }).length;
    ofKind.set(key, { record, bytes: length });
    this.liveBytes += length;
  }

  private recordsOf(kind: string): Map<string, StoredRecord> {
    const ofKind = this.records.get(kind);
    if (ofKind === undefined) throw new Error(`Not a kind of record this journal keeps: ${kind}`);
    return ofKind;
  }
}
