/**
 * The registry's snapshot: every live record, one line each (journal-line.ts), written whole to a temporary file,
 * flushed, and renamed over the last one (writeFileAtomic), so that it is always the old snapshot or the new, never
 * a part. Unlike the journal it is flushed: it is written rarely (compaction, migration), and what it replaces (the
 * journal's lines, the old layout's files) is dropped right after.
 */
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isTemporaryFileName, readBytesIfPresent, writeFileAtomic } from './atomic-file.ts';
import { encodeEntry, readEntries, type JournalEntry, type ReadEntry } from './journal-line.ts';

/** The entries of the snapshot `path`, or undefined when there is no snapshot. */
export async function readSnapshot(path: string, kinds: ReadonlySet<string>): Promise<ReadEntry[] | undefined> {
  const content = await readBytesIfPresent(path);
  // Renamed into place whole: every line, the last included, must be whole.
  return content === undefined ? undefined : readEntries(content, path, kinds, 'must be whole').entries;
}

/** Replaces the snapshot `path` with `entries`. */
export async function writeSnapshot(path: string, entries: Iterable<JournalEntry>): Promise<void> {
  const lines: Buffer[] = [];
  for (const entry of entries) lines.push(encodeEntry(entry));
  await writeFileAtomic(path, Buffer.concat(lines), { mode: 0o600 });
}

/** Removes the temporary files of snapshots a killed process never finished writing: nobody else would. */
export async function removeUnfinishedSnapshots(path: string): Promise<void> {
  const prefix = `${basename(path)}.`;
  const directory = dirname(path);
  const unfinished = (await readdir(directory)).filter((name) => name.startsWith(prefix) && isTemporaryFileName(name));
  await Promise.all(
    unfinished.map((name) =>
      unlink(join(directory, name)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }),
    ),
  );
}
