/** Writing enrollment output so that a crash or a concurrent reader never sees half a file. */
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Write `content` to a temporary file beside `file`, then rename it over `file` (atomic on one filesystem). */
export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, { flag: 'wx', mode });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Create `file` with `content` only if it does not exist (EEXIST otherwise), durably: the content is on disk
 * before the name appears, and the name is on disk before this returns. For the device key: the certificate
 * the server issues is for this key, so a power cut must not leave the name with no key, or half of one.
 */
export async function createFileDurably(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link(2), unlike rename(2), refuses to replace an existing file: a key another run wrote is kept.
    await link(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
  const directory = await open(path.dirname(file), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
