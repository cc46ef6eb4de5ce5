/**
 * Writing a file so that readers see either the old content or the new, never a part: write a
 * temporary file beside it, flush it to disk, and rename it over the target (rename is atomic
 * within one file system).
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file. Default 0o644; keys use 0o600. */
  readonly mode?: number;
  /**
   * Flush the content to disk before the rename. Default true. Without it the write is still atomic for
   * readers and survives the writing process crashing, but an operating-system crash soon after may
   * leave the file empty; in exchange a write costs a fraction of the time.
   */
  readonly durable?: boolean;
}

export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const temporaryPath = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporaryPath, 'wx', options.mode ?? 0o644);
  try {
    try {
      await handle.writeFile(content);
      if (options.durable ?? true) {
        await handle.sync();
      }
    } finally {
      await handle.close();
    }
    await rename(temporaryPath, path);
  } catch (error) {
    await unlink(temporaryPath).catch(() => undefined);
    throw error;
  }
}

/**
 * Replaces files atomically, as writeFileAtomic does without flushing, for a writer that replaces the same files
 * over and over (the local CA's registry): the version a rename displaces is kept, hard-linked under a temporary
 * name, and the next write goes into it instead of into a new file. A file system then neither allocates nor frees
 * an inode per write, which on ext4 without a journal grows costly as freed inodes pile up (it skips every inode
 * freed in the last minutes when it allocates one). The spare files are temporary files (`.tmp`): readers skip them,
 * and whoever opens the directory later may delete them.
 *
 * Writes to one file must not overlap (the caller orders them); writes to different files may. Unlike with
 * writeFileAtomic, a reader must not keep a file open while it is replaced: the version it holds becomes a spare that
 * a later write in the same directory fills again (record-files.ts reads each record in its own queue for this).
 */
export class AtomicReplacer {
  /** Spare files by directory: a spare is renamed over a file of its own directory only. */
  private readonly spares = new Map<string, string[]>();

  async replace(path: string, content: string): Promise<void> {
    const directory = dirname(path);
    const spares = this.spares.get(directory) ?? [];
    this.spares.set(directory, spares);
    const spare = spares.pop() ?? temporaryPathBeside(path);
    const displaced = temporaryPathBeside(path);
    let kept = false;
    try {
      // Truncates and reuses a spare's inode; a new name makes a new file.
      await writeFile(spare, content, { encoding: 'utf8', mode: 0o644 });
      kept = await link(path, displaced).then(
        () => true,
        (error: unknown) => {
          // A new file: there is nothing to displace.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw error;
        },
      );
      await rename(spare, path);
    } catch (error) {
      await unlink(spare).catch(() => undefined);
      if (kept) await unlink(displaced).catch(() => undefined);
      throw error;
    }
    if (kept) spares.push(displaced);
  }
}

function temporaryPathBeside(path: string): string {
  return `${path}.${randomBytes(6).toString('hex')}.tmp`;
}

/** True for a file name writeFileAtomic may leave behind after a crash, which readers should skip. */
export function isTemporaryFileName(name: string): boolean {
  return name.endsWith('.tmp');
}

/** The file's text, or undefined when it does not exist (any other failure is thrown). */
export async function readFileIfPresent(path: string): Promise<string | undefined> {
  return (await readBytesIfPresent(path))?.toString('utf8');
}

/** The file's bytes, or undefined when it does not exist (any other failure is thrown). */
export async function readBytesIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
