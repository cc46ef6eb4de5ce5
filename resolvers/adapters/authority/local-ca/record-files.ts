/**
 * JSON records kept one per file, as the local CA's registry keeps certificates and things: each file replaced
 * atomically, the changes to one file applied in the order they were asked for, and the records read or written
 * lately kept in memory.
 *
 * Changes to one record wait in a queue of their own. Those asked for while the record's previous write is in flight,
 * or in the same turn of the event loop, are applied one after another and written once: an enrollment attaches a
 * policy and a thing to its certificate at once, and every write costs an open, a write, a close and a rename.
 *
 * The files stay the truth. A record enters the cache only after its file was read or written, and only from the
 * record's own queue, so the cache never holds what the disk does not; a failed write leaves both as they were and
 * fails every change it was to store. One process owns the files: changes made by another are not seen.
 *
 * Files are replaced by an AtomicReplacer, which writes into versions displaced earlier: so every read goes through
 * the record's queue too (read()), never alongside a write that could displace and then reuse what it has open.
 */
import { unlink } from 'node:fs/promises';
import { AtomicReplacer, readFileIfPresent } from './atomic-file.ts';

/**
 * A change to one record: given the record as stored (undefined when absent), return it as it should be
 * stored, or undefined to delete it. Returning `current` itself writes nothing. Throwing leaves the record
 * as it was and rejects the update with that error.
 */
export type RecordChange<T> = (current: T | undefined) => T | undefined;

export interface RecordFilesOptions<T> {
  /** Records kept in memory at most; the least recently used go first. */
  readonly cachedRecords: number;
  /** Told after a write stored a record (undefined: the file was deleted), before the changes' promises settle. */
  readonly onStored?: (file: string, record: T | undefined) => void;
}

interface QueuedChange<T> {
  readonly change: RecordChange<T>;
  readonly resolve: (record: T | undefined) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome<T> =
  | { readonly entry: QueuedChange<T>; readonly applied: true; readonly record: T | undefined }
  | { readonly entry: QueuedChange<T>; readonly applied: false; readonly error: unknown };

export class RecordFiles<T> {
  private readonly cache: RecordCache<T>;
  private readonly queues = new Map<string, QueuedChange<T>[]>();
  private readonly onStored: (file: string, record: T | undefined) => void;
  private readonly files = new AtomicReplacer();

  constructor(options: RecordFilesOptions<T>) {
    this.cache = new RecordCache<T>(options.cachedRecords);
    this.onStored = options.onStored ?? (() => undefined);
  }

  /** The record as last stored; a change in flight is not seen until it is stored. */
  read(file: string): Promise<T | undefined> {
    const cached = this.cache.get(file);
    // Not in memory: read it in the record's queue, so that no write can land between the read and the caching.
    return cached === undefined ? this.update(file, (current) => current) : Promise.resolve(cached.record);
  }

  /** Apply `change` to the record of `file` after every change asked for before it; resolves to the result. */
  update(file: string, change: RecordChange<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(file);
      if (queue !== undefined) {
        queue.push({ change, resolve, reject });
        return;
      }
      this.queues.set(file, [{ change, resolve, reject }]);
      void this.drain(file);
    });
  }

  /** Applies the queued changes of `file`, batch after batch, until none is left. Never rejects. */
  private async drain(file: string): Promise<void> {
    // The changes asked for in this same turn join the first batch.
    await Promise.resolve();
    for (let batch = this.take(file); batch.length > 0; batch = this.take(file)) {
      await this.applyBatch(file, batch);
    }
    this.queues.delete(file);
  }

  /** The changes queued so far; later ones queue for the next batch. */
  private take(file: string): QueuedChange<T>[] {
    const batch = this.queues.get(file) ?? [];
    this.queues.set(file, []);
    return batch;
  }

  private async applyBatch(file: string, batch: readonly QueuedChange<T>[]): Promise<void> {
    let stored: T | undefined;
    try {
      stored = await this.load(file);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    let record = stored;
    const outcomes = batch.map((entry): Outcome<T> => {
      try {
        record = entry.change(record);
        return { entry, applied: true, record };
      } catch (error) {
        return { entry, applied: false, error };
      }
    });
    if (record !== stored) {
      try {
        await this.persist(file, record);
      } catch (error) {
        for (const outcome of outcomes) outcome.entry.reject(outcome.applied ? error : outcome.error);
        return;
      }
      this.cache.set(file, record);
      this.onStored(file, record);
    }
    for (const outcome of outcomes) {
      if (outcome.applied) outcome.entry.resolve(outcome.record);
      else outcome.entry.reject(outcome.error);
    }
  }

  private async persist(file: string, record: T | undefined): Promise<void> {
    if (record === undefined) {
      await unlink(file).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      return;
    }
    // Not flushed: the registry stands in for AWS IoT on a developer's machine, where a killed process is common
    // (atomic rename covers it) and a power cut is not; flushing would make enrollment several times slower.
    await this.files.replace(file, `${JSON.stringify(record, null, 2)}\n`);
  }

  /** In the record's queue only. */
  private async load(file: string): Promise<T | undefined> {
    const cached = this.cache.get(file);
    if (cached !== undefined) return cached.record;
    const record = await readRecord<T>(file);
    this.cache.set(file, record);
    return record;
  }
}

/** The record in `file`, or undefined when there is no such file. */
async function readRecord<T>(file: string): Promise<T | undefined> {
  const content = await readFileIfPresent(file);
  if (content === undefined) return undefined;
  try {
    return JSON.parse(content) as T;
  } catch (error) {
    throw new Error(`The registry record ${file} is not valid JSON.`, { cause: error });
  }
}

/**
 * The records of the files read or written last, absent ones included (an absent record is as much a fact as a
 * present one), at most `capacity`: the least recently used go first.
 */
class RecordCache<T> {
  private readonly entries = new Map<string, { readonly record: T | undefined }>();

  constructor(private readonly capacity: number) {}

  /** `{ record }` when the file's record is known (`record` undefined: known to be absent), else undefined. */
  get(file: string): { readonly record: T | undefined } | undefined {
    const entry = this.entries.get(file);
    if (entry === undefined) return undefined;
    // Most recently used last: a Map iterates in insertion order.
    this.entries.delete(file);
    this.entries.set(file, entry);
    return entry;
  }

  set(file: string, record: T | undefined): void {
    this.entries.delete(file);
    this.entries.set(file, { record });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }
}
