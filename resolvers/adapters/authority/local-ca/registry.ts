/**
 * What the local authority remembers, like AWS IoT's registry: certificates with their status and
 * attached policies, and things with their attributes and attached principals.
 *
 * One JSON file per record (`certificates/<id>.json`, `things/<sha256 of name>.json`), each replaced
 * atomically, so that a write costs the same with ten devices or ten thousand and a killed process never
 * leaves a torn record (records are not flushed one by one). Changes to one record are applied in order within
 * the process, and the records read or written lately are kept in memory (record-files.ts); the local stack runs
 * one process per data directory, so nothing coordinates across processes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CertificateStatus } from '../../../core/ports.ts';
import { isTemporaryFileName } from './atomic-file.ts';
import { RecordFiles, type RecordChange } from './record-files.ts';

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
 * Told after a change to a certificate record is stored, with the record as now stored (undefined once deleted);
 * changes made together may be stored by one write, and told once. Called synchronously by the writer: a listener
 * must not throw, and should hand slow work to a promise.
 */
export type CertificateChangeListener = (certificateId: string, record: CertificateRecord | undefined) => void;

const CERTIFICATES_DIRECTORY = 'certificates';
const THINGS_DIRECTORY = 'things';
const CERTIFICATE_ID_PATTERN = /^[0-9a-f]{64}$/;
/** Records the list methods read at once: enough to overlap I/O, few enough to stay far below the open-files limit. */
const LIST_READ_BATCH = 64;
/** Records of each kind kept in memory: far more than the enrollments in flight at once, a few MB at most. */
const CACHED_RECORDS = 2048;

export class CertificateRegistry {
  private readonly certificateListeners = new Set<CertificateChangeListener>();
  private readonly certificates = new RecordFiles<CertificateRecord>({
    cachedRecords: CACHED_RECORDS,
    onStored: (file, record) => {
      for (const listener of this.certificateListeners) listener(basename(file, '.json'), record);
    },
  });
  private readonly things = new RecordFiles<ThingRecord>({ cachedRecords: CACHED_RECORDS });

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
    return file === undefined ? undefined : this.certificates.read(file);
  }

  async getThing(name: string): Promise<ThingRecord | undefined> {
    return this.things.read(this.thingFile(name));
  }

  /** Every certificate, oldest first. */
  async listCertificates(): Promise<CertificateRecord[]> {
    const records = await readAllRecords(join(this.directory, CERTIFICATES_DIRECTORY), this.certificates);
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Every thing, by name. */
  async listThings(): Promise<ThingRecord[]> {
    const records = await readAllRecords(join(this.directory, THINGS_DIRECTORY), this.things);
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
    return this.certificates.update(file, change);
  }

  /** Apply `change` to the thing `name` after every earlier change to it has finished; resolves to the result. */
  updateThing(name: string, change: RecordChange<ThingRecord>): Promise<ThingRecord | undefined> {
    return this.things.update(this.thingFile(name), change);
  }

  private certificateFile(id: string): string | undefined {
    return CERTIFICATE_ID_PATTERN.test(id) ? join(this.directory, CERTIFICATES_DIRECTORY, `${id}.json`) : undefined;
  }

  /** Thing names may hold `:` (special on some file systems) or differ only in case: files are named by hash. */
  private thingFile(name: string): string {
    const digest = createHash('sha256').update(name, 'utf8').digest('hex');
    return join(this.directory, THINGS_DIRECTORY, `${digest}.json`);
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

/** Every record in `directory`, each read as `files` reads it: in memory, or from disk in the record's own queue. */
async function readAllRecords<T>(directory: string, files: RecordFiles<T>): Promise<T[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.json') && !isTemporaryFileName(name));
  const records: T[] = [];
  for (let start = 0; start < names.length; start += LIST_READ_BATCH) {
    const batch = names.slice(start, start + LIST_READ_BATCH);
    const read = await Promise.all(batch.map((name) => files.read(join(directory, name))));
    // A record deleted between readdir and readFile is simply no longer there.
    for (const record of read) {
      if (record !== undefined) {
        records.push(record);
      }
    }
  }
  return records;
}
