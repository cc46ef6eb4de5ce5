/** Writing a device's files so that a crash or a concurrent reader never sees half a file. */
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Each of a device's file names, `{ key: 'device.key.pem', … }`, as an absolute path in `dir`. */
export function pathsIn<Names extends Readonly<Record<string, string>>>(
  dir: string,
  names: Names,
): { readonly [name in keyof Names]: string } {
  const directory = path.resolve(dir);
  return Object.fromEntries(Object.entries(names).map(([name, file]) => [name, path.join(directory, file)])) as {
    readonly [name in keyof Names]: string;
  };
}

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
  const temporary = await writeTemporaryDurably(file, content, mode);
  try {
    // link(2), unlike rename(2), refuses to replace an existing file: a key another run wrote is kept.
    await link(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
  await syncDirectory(path.dirname(file));
}

/** Write `file` whole, replacing it, durably: a power cut leaves the old content or the new, never a mix or nothing. */
export async function replaceFileDurably(file: string, content: string, mode: number): Promise<void> {
  const temporary = await writeTemporaryDurably(file, content, mode);
  try {
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** `content` in a new temporary file beside `file`, on disk before this returns; its path. Removed on failure. */
async function writeTemporaryDurably(file: string, content: string, mode: number): Promise<string> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  return temporary;
}

/** Remove `file` (nothing to do when it is absent), and have the removal on disk before this returns. */
export async function removeFileDurably(file: string): Promise<void> {
  await rm(file, { force: true });
  await syncDirectory(path.dirname(file));
}

/**
 * The file changes a certificate rotation makes, each atomic and on disk before it returns. Injected (with
 * `durableFiles` as the default) so that a test can cut the power between any two of them.
 */
export interface DurableFiles {
  /** Create `file` only if it does not exist; EEXIST otherwise. */
  create(file: string, content: string, mode: number): Promise<void>;
  replace(file: string, content: string, mode: number): Promise<void>;
  remove(file: string): Promise<void>;
}

export const durableFiles: DurableFiles = {
  create: createFileDurably,
  replace: replaceFileDurably,
  remove: removeFileDurably,
};

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
