/**
 * What the local authority remembers, like AWS IoT's registry: certificates with their status and
 * attached policies, and things with their attributes and attached principals.
 *
 * Every record is held in memory, so reads need no I/O, and stored in two files (record-journal.ts):
 * `journal.jsonl`, to which each write appends the records it changed, one line each, and `snapshot.jsonl`, which
 * replaces the journal when it grows well beyond the records. A killed process never loses or tears a stored record.
 * The cost is memory: about 1.7 KB of heap per device (its certificate with the PEM, and its thing; measured), some
 * 17 MB for 10,000 devices, which a local stand-in for AWS IoT can afford.
 *
 * The local stack runs one process per data directory, so nothing coordinates across processes: another process
 * writing the same registry would neither see this one's changes nor be seen.
 *
 * Registries written by earlier versions, one JSON file per record (legacy-layout.ts), are read into the journal's
 * files when opened.
 */
import { mkdir } from 'node:fs/promises';
import type { CertificateStatus } from '../../../core/ports.ts';
import type { CompactionRule } from './compaction-rule.ts';
import type { JournalFileOperations } from './journal-file.ts';
import { readLegacyRecords, removeLegacyLayout } from './legacy-layout.ts';
import { RecordJournal, type RecordChange } from './record-journal.ts';

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

type RegistryKinds = { certificate: CertificateRecord; thing: ThingRecord };

const CERTIFICATE_ID_PATTERN = /^[0-9a-f]{64}$/;

export interface CertificateRegistryOptions {
  /** When the journal is replaced by a snapshot. Default: DEFAULT_COMPACTION_RULE (compaction-rule.ts). */
  readonly compaction?: CompactionRule;
  /** What writes the journal. Default: node:fs. Tests pass operations that fail. */
  readonly fileOperations?: JournalFileOperations;
}

export class CertificateRegistry {
  private constructor(
    private readonly records: RecordJournal<RegistryKinds>,
    private readonly certificateListeners: Set<CertificateChangeListener>,
  ) {}

  /**
   * Opens (creating) the registry in `directory`: reads its records into memory, drops a journal line a killed
   * process left torn, and moves the records of an older layout into the journal's files.
   */
  static async open(directory: string, options: CertificateRegistryOptions = {}): Promise<CertificateRegistry> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const legacy = await readLegacyRecords(directory);
    const certificateListeners = new Set<CertificateChangeListener>();
    const records = await RecordJournal.open<RegistryKinds>({
      directory,
      kinds: ['certificate', 'thing'],
      ...(legacy === undefined ? {} : { migrated: legacy }),
      onStored: (kind, key, record) => {
        if (kind !== 'certificate') return;
        for (const listener of certificateListeners) listener(key, record as CertificateRecord | undefined);
      },
      ...(options.compaction === undefined ? {} : { compaction: options.compaction }),
      ...(options.fileOperations === undefined ? {} : { fileOperations: options.fileOperations }),
    });
    // Only now that the snapshot holds them: a process killed before this line reads them again next time.
    if (legacy !== undefined) await removeLegacyLayout(directory);
    return new CertificateRegistry(records, certificateListeners);
  }

  getCertificate(id: string): Promise<CertificateRecord | undefined> {
    return Promise.resolve(this.records.get('certificate', id));
  }

  getThing(name: string): Promise<ThingRecord | undefined> {
    return Promise.resolve(this.records.get('thing', name));
  }

  /** Every certificate, oldest first. */
  listCertificates(): Promise<CertificateRecord[]> {
    const records = this.records.all('certificate');
    return Promise.resolve(records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)));
  }

  /** Every thing, by name. */
  listThings(): Promise<ThingRecord[]> {
    const records = this.records.all('thing');
    return Promise.resolve(records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }

  /**
   * Listen to every certificate change this registry stores (a status change, a policy or thing attached or
   * detached, a deletion), so that a server holding connections for a certificate can act at once instead of
   * polling. Changes made by another process are not seen: one process owns a data directory.
   * Returns a function that stops listening.
   */
  onCertificateChange(listener: CertificateChangeListener): () => void {
    this.certificateListeners.add(listener);
    return () => this.certificateListeners.delete(listener);
  }

  /** Apply `change` to the certificate `id` after every earlier change to it has finished; resolves to the result. */
  updateCertificate(id: string, change: RecordChange<CertificateRecord>): Promise<CertificateRecord | undefined> {
    if (!CERTIFICATE_ID_PATTERN.test(id)) {
      // Not an id AWS IoT could give: absent, and never stored.
      return Promise.resolve().then(() => {
        if (change(undefined) !== undefined) throw new Error(`Not a certificate id: ${JSON.stringify(id)}`);
        return undefined;
      });
    }
    return this.records.update('certificate', id, change);
  }

  /** Apply `change` to the thing `name` after every earlier change to it has finished; resolves to the result. */
  updateThing(name: string, change: RecordChange<ThingRecord>): Promise<ThingRecord | undefined> {
    return this.records.update('thing', name, change);
  }

  /**
   * Stores the changes already asked for and releases the journal file; later changes are refused. A process that
   * never calls it loses nothing: every change is stored by the time its promise settles.
   */
  close(): Promise<void> {
    return this.records.close();
  }
}
