/**
 * The registry's layout before its journal: one JSON file per record, `certificates/<id>.json` and
 * `things/<sha256 of the name>.json`, beside `*.tmp` files that writes a killed process never finished left behind.
 *
 * A registry that finds these reads them, writes them into its snapshot, and only then removes them: a process
 * killed part-way leaves the files, or some of them, beside a snapshot that already holds them, and the next open
 * does the same again.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JournalEntry } from './journal-line.ts';

export const LEGACY_CERTIFICATES_DIRECTORY = 'certificates';
export const LEGACY_THINGS_DIRECTORY = 'things';

/** The old layout's directories, each with the kind of record it holds and the field that keys a record. */
const LEGACY_DIRECTORIES = [
  { name: LEGACY_CERTIFICATES_DIRECTORY, kind: 'certificate', keyField: 'id' },
  { name: LEGACY_THINGS_DIRECTORY, kind: 'thing', keyField: 'name' },
] as const;

/** Files read at once: enough to overlap I/O, few enough to stay far below the open-files limit. */
const READ_BATCH = 64;

/** The records of the old layout under `directory`, or undefined when it has none (no such directory). */
export async function readLegacyRecords(directory: string): Promise<JournalEntry[] | undefined> {
  let found = false;
  const entries: JournalEntry[] = [];
  for (const { name, kind, keyField } of LEGACY_DIRECTORIES) {
    const files = await recordFilesIn(join(directory, name));
    if (files === undefined) continue;
    found = true;
    for (let start = 0; start < files.length; start += READ_BATCH) {
      const batch = files.slice(start, start + READ_BATCH);
      entries.push(...(await Promise.all(batch.map((file) => readLegacyRecord(file, kind, keyField)))));
    }
  }
  return found ? entries : undefined;
}

/** Removes the old layout's directories, once a snapshot holds their records. */
export async function removeLegacyLayout(directory: string): Promise<void> {
  for (const { name } of LEGACY_DIRECTORIES) {
    await rm(join(directory, name), { recursive: true, force: true });
  }
}

/** The record files in `directory` (temporary files left out), or undefined when there is no such directory. */
async function recordFilesIn(directory: string): Promise<string[] | undefined> {
  try {
    const names = await readdir(directory);
    return names.filter((name) => name.endsWith('.json')).map((name) => join(directory, name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readLegacyRecord(file: string, kind: string, keyField: string): Promise<JournalEntry> {
  const content = await readFile(file, 'utf8');
  let record: unknown;
  try {
    record = JSON.parse(content);
  } catch (error) {
    throw new Error(`The registry record ${file} is not valid JSON.`, { cause: error });
  }
  const key = typeof record === 'object' && record !== null ? (record as Record<string, unknown>)[keyField] : undefined;
  if (typeof record !== 'object' || record === null || typeof key !== 'string' || key.length === 0) {
    throw new Error(`The registry record ${file} is not a record: it has no "${keyField}".`);
  }
  return { kind, key, record };
}
