/**
 * A CA kept in a directory of its own: `ca.pem` (the certificate) and `ca.key.pem` (PKCS#8, mode 0600),
 * in a directory of mode 0700. Made on the first start, read on every later one.
 *
 * Creation writes a complete directory under a temporary name beside the target and renames it into
 * place. The rename is atomic and refuses to replace a non-empty directory, so when two processes start
 * at once one wins and the other reads the winner's CA, and a crash never leaves a half-made CA under the
 * real name. A directory that holds one file without the other was therefore damaged by someone else: it
 * is reported, never silently replaced by a new CA (that would orphan every certificate signed so far).
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readFileIfPresent } from './atomic-file.ts';
import { CaStoreError } from './errors.ts';
import { caFromPem, createCa, type CreateCaOptions, type LocalCa } from './local-ca.ts';

export const CA_CERTIFICATE_FILE = 'ca.pem';
export const CA_PRIVATE_KEY_FILE = 'ca.key.pem';

export interface StoredCa extends LocalCa {
  /** Absolute or caller-relative path of `ca.pem`, for tools that want a file (openssl, curl --cacert). */
  readonly certificateFile: string;
}

export type LoadOrCreateCaOptions = Pick<CreateCaOptions, 'commonName' | 'now' | 'notAfter'>;

export async function loadOrCreateCa(directory: string, options: LoadOrCreateCaOptions): Promise<StoredCa> {
  const found = await readCaFiles(directory);
  if (found.certificatePem === undefined && found.privateKeyPem === undefined) {
    await createCaDirectory(directory, options);
    return loadCa(directory, await readCaFiles(directory));
  }
  return loadCa(directory, found);
}

interface CaFiles {
  readonly certificatePem: string | undefined;
  readonly privateKeyPem: string | undefined;
}

async function readCaFiles(directory: string): Promise<CaFiles> {
  const found = await readBothFiles(directory);
  // The directory may have been renamed into place between the two reads: a second look sees it whole.
  return isPartial(found) ? readBothFiles(directory) : found;
}

async function readBothFiles(directory: string): Promise<CaFiles> {
  return {
    certificatePem: await readFileIfPresent(join(directory, CA_CERTIFICATE_FILE)),
    privateKeyPem: await readFileIfPresent(join(directory, CA_PRIVATE_KEY_FILE)),
  };
}

function isPartial(found: CaFiles): boolean {
  return (found.certificatePem === undefined) !== (found.privateKeyPem === undefined);
}

async function loadCa(directory: string, found: CaFiles): Promise<StoredCa> {
  const certificateFile = join(directory, CA_CERTIFICATE_FILE);
  if (found.certificatePem === undefined || found.privateKeyPem === undefined) {
    throw new CaStoreError(
      directory,
      `The CA store is incomplete: ${describeMissing(directory, found)}. Restore the missing file, or delete the ` +
        'directory to create a new CA (certificates signed by the old CA will then no longer be trusted).',
    );
  }
  try {
    const ca = await caFromPem(found.certificatePem, found.privateKeyPem);
    return { ...ca, certificateFile };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CaStoreError(directory, `The CA store in ${directory} is unusable: ${reason}.`, { cause: error });
  }
}

function describeMissing(directory: string, found: CaFiles): string {
  if (found.certificatePem === undefined && found.privateKeyPem === undefined) {
    return `${directory} exists but holds neither ${CA_CERTIFICATE_FILE} nor ${CA_PRIVATE_KEY_FILE}`;
  }
  return found.certificatePem === undefined
    ? `${directory} holds ${CA_PRIVATE_KEY_FILE} but not ${CA_CERTIFICATE_FILE}`
    : `${directory} holds ${CA_CERTIFICATE_FILE} but not ${CA_PRIVATE_KEY_FILE}`;
}

async function createCaDirectory(directory: string, options: LoadOrCreateCaOptions): Promise<void> {
  const parent = dirname(directory);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const { ca, privateKeyPem } = await createCa(options);
  // mkdtemp makes the directory 0700, which is the mode the CA directory keeps after the rename.
  const staging = await mkdtemp(join(parent, `.${basename(directory)}.tmp-`));
  try {
    await writeFile(join(staging, CA_PRIVATE_KEY_FILE), privateKeyPem, { mode: 0o600, flush: true });
    await writeFile(join(staging, CA_CERTIFICATE_FILE), ca.certificatePem, { mode: 0o644, flush: true });
    await rename(staging, directory);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (!isLostCreationRace(error)) {
      throw error;
    }
  }
}

/** rename(2) onto a non-empty directory: another process (or another call) created the CA first. */
function isLostCreationRace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOTEMPTY' || code === 'EEXIST';
}
