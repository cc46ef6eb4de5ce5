/**
 * Writing a file so that readers see either the old content or the new, never a part: write a
 * temporary file beside it, flush it to disk, and rename it over the target (rename is atomic
 * within one file system).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file. Default 0o644; keys use 0o600. */
  readonly mode?: number;
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
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporaryPath, path);
  } catch (error) {
    await unlink(temporaryPath).catch(() => undefined);
    throw error;
  }
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
