/**
 * The local stack's own credentials: a device API key (AppSync's `da2-` form) and an admin access key
 * pair for SigV4. Made once per data dir with a CSPRNG and kept in `credentials.json` (mode 0600), so a
 * restart keeps working clients working.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface LocalCredentials {
  readonly apiKey: string;
  readonly adminAccessKeyId: string;
  readonly adminSecretAccessKey: string;
}

export const LOCAL_ACCOUNT_ID = '000000000000';
/** The IAM identity admin calls carry locally; audit events name it as their actor. */
export const LOCAL_ADMIN_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/cvm-local-admin`;
const FILE = 'credentials.json';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export async function loadOrCreateCredentials(dataDir: string): Promise<LocalCredentials> {
  const file = path.join(dataDir, FILE);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalCredentials>;
    if (parsed.apiKey && parsed.adminAccessKeyId && parsed.adminSecretAccessKey) return parsed as LocalCredentials;
    throw new Error(`${file} is incomplete; delete it to have new credentials made.`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const credentials: LocalCredentials = {
    apiKey: `da2-${randomString(BASE32, 26)}`,
    adminAccessKeyId: `AKIA${randomString('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
    adminSecretAccessKey: randomBytes(30).toString('base64'),
  };
  try {
    await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return credentials;
  } catch (error) {
    // Another process made them first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateCredentials(dataDir);
    throw error;
  }
}

function randomString(alphabet: string, length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join('');
}
