/**
 * What the local authority remembers, like AWS IoT's registry: certificates with their status and
 * attached policies, and things with their attributes and attached principals.
 *
 * One JSON file per record (`certificates/<id>.json`, `things/<sha256 of name>.json`), each replaced
 * atomically, so that a write costs the same with ten devices or ten thousand and a killed process never
 * leaves a torn record (records are not flushed one by one: see applyChange). Changes to one record are
 * serialized within the process (a promise chain per record); the local stack runs one process per data
 * directory, so nothing coordinates across processes.
 *
 * The records read or written lately are also kept in memory (RecordCache): an enrollment reads and writes the
 * same two records six times, and reading them back from disk was half of the registry's cost. The files stay the
 * truth: a record enters the cache only from its own chain, after its file was read or written, so the cache never
 * holds what the disk does not.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateStatus } from '../../../core/ports.ts';
import { isTemporaryFileName, readFileIfPresent, writeFileAtomic } from './atomic-file.ts';

export interface CertificateRecord {
  /** Lowercase hex SHA-256 of the certificate DER. */
  readonly id: string;
  readonly arn: string;
  readonly pem: string;
  readonly status: CertificateStatus;
  /** ISO-8601. */
  readonly createdAt: string;
  /** Names of the policies attached to the certificate. */
  readonly policies: readonly string[];
  /**
   * Names of the things the certificate is attached to: the other side of ThingRecord.principals, kept
   * so that deleting a certificate need not read every thing.
   */
  readonly things: readonly string[];
}

export interface ThingRecord {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** ARNs of the certificates attached to the thing. */
  readonly principals: readonly string[];
  /** ISO-8601. */
  readonly createdAt: string;
}

/**
 * A change to one record: given the record as stored (undefined when absent), return it as it should be
 * stored, or undefined to delete it. Returning `current` itself writes nothing. Throwing leaves the record
 * as it was and rejects the update with that error.
 */
export type RecordChange<T> = (current: T | undefined) => T | undefined;

/**
 * Told after a change to a certificate record is stored, with the record as now stored (undefined once deleted).
 * Called synchronously by the writer: a listener must not throw, and should hand slow work to a promise.
 */
export type CertificateChangeListener = (certificateId: string, record: CertificateRecord | undefined) => void;

const CERTIFICATES_DIRECTORY = 'certificates';
const THINGS_DIRECTORY = 'things';
const CERTIFICATE_ID_PATTERN = /^[0-9a-f]{64}$/;
/** Records the list methods read at once: enough to overlap I/O, few enough to stay far below the open-files limit. */
const LIST_READ_BATCH = 64;
/** Records kept in memory: far more than the enrollments in flight at once, a few MB at most. */
const CACHED_RECORDS = 4096;

export class CertificateRegistry {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly certificateListeners = new Set<CertificateChangeListener>();
  private readonly cache = new RecordCache(CACHED_RECORDS);

  private constructor(private readonly directory: string) {}

  /** Opens (creating) the registry in `directory`, removing the temporary files a killed process left there. */
  static async open(directory: string): Promise<CertificateRegistry> {
    for (const subdirectory of [CERTIFICATES_DIRECTORY, THINGS_DIRECTORY]) {
      await mkdir(join(directory, subdirectory), { recursive: true, mode: 0o700 });
      await removeTemporaryFiles(join(directory, subdirectory));
    }
    return new CertificateRegistry(directory);
  }

  async getCertificate(id: string): Promise<CertificateRecord | undefined> {
    const file = this.certificateFile(id);
    return file === undefined ? undefined : this.read<CertificateRecord>(file);
  }

  async getThing(name: string): Promise<ThingRecord | undefined> {
    return this.read<ThingRecord>(this.thingFile(name));
  }

  /** Every certificate, oldest first. */
  async listCertificates(): Promise<CertificateRecord[]> {
    const records = await readAllRecords<CertificateRecord>(join(this.directory, CERTIFICATES_DIRECTORY));
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Every thing, by name. */
  async listThings(): Promise<ThingRecord[]> {
    const records = await readAllRecords<ThingRecord>(join(this.directory, THINGS_DIRECTORY));
    return records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Listen to every certificate change this registry stores (a status change, a policy or thing attached or
   * detached, a deletion), so that a server holding connections for a certificate can act at once instead of
   * polling the files. Changes made by another process are not seen: one process owns a data directory.
   * Returns a function that stops listening.
   */
  onCertificateChange(listener: CertificateChangeListener): () => void {
    this.certificateListeners.add(listener);
    return () => this.certificateListeners.delete(listener);
  }

  /** Apply `change` to the certificate `id` after every earlier change to it has finished; resolves to the result. */
  updateCertificate(id: string, change: RecordChange<CertificateRecord>): Promise<CertificateRecord | undefined> {
    const file = this.certificateFile(id);
    if (file === undefined) {
      // Not an id this registry could ever hold: treat it as absent, without touching the file system.
      return Promise.resolve().then(() => {
        const next = change(undefined);
        if (next !== undefined) {
          throw new Error(`Not a certificate id: ${JSON.stringify(id)}`);
        }
        return undefined;
      });
    }
    return this.serialized(file, async () => {
      let changed = false;
      const stored = await this.applyChange(file, (current: CertificateRecord | undefined) => {
        const next = change(current);
        changed = next !== current;
        return next;
      });
      if (changed) {
        for (const listener of this.certificateListeners) listener(id, stored);
      }
      return stored;
    });
  }

  /** Apply `change` to the thing `name` after every earlier change to it has finished; resolves to the result. */
  updateThing(name: string, change: RecordChange<ThingRecord>): Promise<ThingRecord | undefined> {
    const file = this.thingFile(name);
    return this.serialized(file, () => this.applyChange(file, change));
  }

  /**
   * The record as last stored. A cached record needs no disk; otherwise the file is read in the record's chain
   * (after any change in flight), so that what enters the cache cannot be older than what a change just wrote.
   */
  private read<T>(file: string): Promise<T | undefined> {
    const cached = this.cache.get<T>(file);
    if (cached !== undefined) return Promise.resolve(cached.record);
    return this.serialized(file, () => this.load<T>(file));
  }

  /** In the record's chain only. */
  private async load<T>(file: string): Promise<T | undefined> {
    const cached = this.cache.get<T>(file);
    if (cached !== undefined) return cached.record;
    const record = await readRecord<T>(file);
    this.cache.set(file, record);
    return record;
  }

  /** In the record's chain only: the cache changes after the file did, so a failed write leaves both as they were. */
  private async applyChange<T>(file: string, change: RecordChange<T>): Promise<T | undefined> {
    const current = await this.load<T>(file);
    const next = change(current);
    if (next === current) {
      return current;
    }
    if (next === undefined) {
      await unlink(file).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw error;
        }
      });
    } else {
      // Not flushed: this registry stands in for AWS IoT on a developer's machine, where a killed process is
      // common (atomic rename covers it) and a power cut is not; flushing would make enrollment several times slower.
      await writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`, { durable: false });
    }
    this.cache.set(file, next);
    return next;
  }

  private certificateFile(id: string): string | undefined {
    return CERTIFICATE_ID_PATTERN.test(id) ? join(this.directory, CERTIFICATES_DIRECTORY, `${id}.json`) : undefined;
  }

  /** Thing names may hold `:` (special on some file systems) or differ only in case: files are named by hash. */
  private thingFile(name: string): string {
    const digest = createHash('sha256').update(name, 'utf8').digest('hex');
    return join(this.directory, THINGS_DIRECTORY, `${digest}.json`);
  }

  private serialized<R>(key: string, task: () => Promise<R>): Promise<R> {
    const previous = this.pending.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(key, settled);
    void settled.then(() => {
      if (this.pending.get(key) === settled) {
        this.pending.delete(key);
      }
    });
    return result;
  }
}

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
class RecordCache {
  private readonly entries = new Map<string, { readonly record: unknown }>();

  constructor(private readonly capacity: number) {}

  /** `{ record }` when the file's record is known (`record` undefined: known to be absent), else undefined. */
  get<T>(file: string): { readonly record: T | undefined } | undefined {
    const entry = this.entries.get(file);
    if (entry === undefined) return undefined;
    // Most recently used last: a Map iterates in insertion order.
    this.entries.delete(file);
    this.entries.set(file, entry);
    return entry as { readonly record: T | undefined };
  }

  set(file: string, record: unknown): void {
    this.entries.delete(file);
    this.entries.set(file, { record });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }
}

/** Temporary files of writes a killed process never finished: never read, and nobody else removes them. */
async function removeTemporaryFiles(directory: string): Promise<void> {
  const stale = (await readdir(directory)).filter(isTemporaryFileName);
  await Promise.all(
    stale.map((name) =>
      unlink(join(directory, name)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }),
    ),
  );
}

async function readAllRecords<T>(directory: string): Promise<T[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.json') && !isTemporaryFileName(name));
  const records: T[] = [];
  for (let start = 0; start < names.length; start += LIST_READ_BATCH) {
    const batch = names.slice(start, start + LIST_READ_BATCH);
    const read = await Promise.all(batch.map((name) => readRecord<T>(join(directory, name))));
    // A record deleted between readdir and readFile is simply no longer there.
    for (const record of read) {
      if (record !== undefined) {
        records.push(record);
      }
    }
  }
  return records;
}
