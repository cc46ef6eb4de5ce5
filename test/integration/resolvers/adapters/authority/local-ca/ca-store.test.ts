import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CA_CERTIFICATE_FILE,
  CA_PRIVATE_KEY_FILE,
  loadOrCreateCa,
} from '../../../../../../resolvers/adapters/authority/local-ca/ca-store.ts';
import { CaStoreError } from '../../../../../../resolvers/adapters/authority/local-ca/errors.ts';
import { issueDeviceCertificate } from '../../../../../../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { makeCsr } from '../../../../../support/csr.ts';

const run = promisify(execFile);
const OPTIONS = { commonName: 'cvm store test CA' };

let root: string;
let caDirectory: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cvm-local-ca-store-'));
  caDirectory = join(root, 'ca', 'device');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function mode(stats: { mode: number }): number {
  return stats.mode & 0o777;
}

describe('loadOrCreateCa', () => {
  it('creates the CA on first use: a 0700 directory holding ca.pem and a 0600 PKCS#8 ca.key.pem', async () => {
    const ca = await loadOrCreateCa(caDirectory, OPTIONS);

    expect(mode(await stat(caDirectory))).toBe(0o700);
    expect(mode(await stat(join(caDirectory, CA_PRIVATE_KEY_FILE)))).toBe(0o600);
    expect((await readdir(caDirectory)).sort()).toEqual([CA_CERTIFICATE_FILE, CA_PRIVATE_KEY_FILE].sort());
    expect(await readFile(join(caDirectory, CA_CERTIFICATE_FILE), 'utf8')).toBe(ca.certificatePem);
    expect(await readFile(join(caDirectory, CA_PRIVATE_KEY_FILE), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(ca.certificateFile).toBe(join(caDirectory, CA_CERTIFICATE_FILE));
    expect(ca.certificate.subject).toBe('CN=cvm store test CA');
  });

  it('opens the same CA on a later start, and it still signs for the same chain', async () => {
    const first = await loadOrCreateCa(caDirectory, OPTIONS);
    const second = await loadOrCreateCa(caDirectory, OPTIONS);

    expect(second.certificatePem).toBe(first.certificatePem);
    expect(second.keyIdentifier).toBe(first.keyIdentifier);
    const { csrPem } = await makeCsr({ commonName: 'SN-1' });
    const issued = await issueDeviceCertificate(second, csrPem);
    await expect(
      issued.certificate.verify({ publicKey: first.certificate.publicKey, signatureOnly: true }),
    ).resolves.toBe(true);
  });

  it('leaves no temporary directory behind', async () => {
    await loadOrCreateCa(caDirectory, OPTIONS);
    expect(await readdir(join(root, 'ca'))).toEqual(['device']);
  });

  it('makes one CA when many opens race in one process', async () => {
    const opened = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateCa(caDirectory, OPTIONS)));

    const onDisk = await readFile(join(caDirectory, CA_CERTIFICATE_FILE), 'utf8');
    expect(new Set(opened.map((ca) => ca.certificatePem))).toEqual(new Set([onDisk]));
    expect(await readdir(join(root, 'ca'))).toEqual(['device']);
  });

  it('makes one CA when two processes start at once', async () => {
    // Each process says it is ready, then waits for the go file, so that both create at the same moment
    // instead of one finishing before the other has even loaded.
    const script = join(root, 'open-ca.mts');
    const caStore = resolve('resolvers/adapters/authority/local-ca/ca-store.ts');
    await writeFile(
      script,
      [
        "import { existsSync, writeFileSync } from 'node:fs';",
        "import { setTimeout as sleep } from 'node:timers/promises';",
        `import { loadOrCreateCa } from ${JSON.stringify(caStore)};`,
        'const [caDirectory, barrier] = process.argv.slice(2);',
        'writeFileSync(`${barrier}/ready-${process.pid}`, "");',
        'while (!existsSync(`${barrier}/go`)) await sleep(2);',
        "const ca = await loadOrCreateCa(caDirectory, { commonName: 'race' });",
        'process.stdout.write(ca.certificatePem);',
      ].join('\n'),
    );
    const barrier = await mkdtemp(join(root, 'barrier-'));
    const start = () => run(process.execPath, ['--import', 'tsx', script, caDirectory, barrier], { timeout: 20_000 });
    const processes = Promise.all([start(), start()]);
    await expect.poll(async () => (await readdir(barrier)).length, { timeout: 15_000, interval: 20 }).toBe(2);
    await writeFile(join(barrier, 'go'), '');

    const [a, b] = await processes;

    expect(a.stdout).toContain('BEGIN CERTIFICATE');
    expect(a.stdout).toBe(b.stdout);
    expect(await readFile(join(caDirectory, CA_CERTIFICATE_FILE), 'utf8')).toBe(a.stdout);
  });

  it('accepts an empty directory made beforehand', async () => {
    await mkdir(caDirectory, { recursive: true });
    const ca = await loadOrCreateCa(caDirectory, OPTIONS);
    expect(await readFile(join(caDirectory, CA_CERTIFICATE_FILE), 'utf8')).toBe(ca.certificatePem);
  });

  describe('refuses a damaged store, and creates nothing in its place', () => {
    const cases: { name: string; damage: () => Promise<void>; message: RegExp }[] = [
      {
        name: 'fail/key-missing',
        damage: () => rm(join(caDirectory, CA_PRIVATE_KEY_FILE)),
        message: /holds ca\.pem but not ca\.key\.pem/,
      },
      {
        name: 'fail/certificate-missing',
        damage: () => rm(join(caDirectory, CA_CERTIFICATE_FILE)),
        message: /holds ca\.key\.pem but not ca\.pem/,
      },
      {
        name: 'fail/both-missing-but-directory-in-use',
        damage: async () => {
          await rm(join(caDirectory, CA_CERTIFICATE_FILE));
          await rm(join(caDirectory, CA_PRIVATE_KEY_FILE));
          await writeFile(join(caDirectory, 'notes.txt'), 'someone else lives here');
        },
        message: /holds neither ca\.pem nor ca\.key\.pem/,
      },
      {
        name: 'fail/certificate-truncated',
        damage: async () => {
          const pem = await readFile(join(caDirectory, CA_CERTIFICATE_FILE), 'utf8');
          await writeFile(join(caDirectory, CA_CERTIFICATE_FILE), pem.slice(0, pem.length / 2));
        },
        message: /unusable/,
      },
      {
        name: 'fail/key-of-another-ca',
        damage: async () => {
          const other = join(root, 'other');
          await loadOrCreateCa(other, OPTIONS);
          await writeFile(join(caDirectory, CA_PRIVATE_KEY_FILE), await readFile(join(other, CA_PRIVATE_KEY_FILE)));
        },
        message: /private key does not belong/,
      },
    ];

    it.each(cases)('$name', async ({ damage, message }) => {
      await loadOrCreateCa(caDirectory, OPTIONS);
      await damage();
      const before = (await readdir(caDirectory)).sort();

      const opening = loadOrCreateCa(caDirectory, OPTIONS);

      await expect(opening).rejects.toBeInstanceOf(CaStoreError);
      await expect(opening).rejects.toThrow(message);
      expect((await readdir(caDirectory)).sort()).toEqual(before);
    });

    it('names the directory and says how to recover', async () => {
      await loadOrCreateCa(caDirectory, OPTIONS);
      await rm(join(caDirectory, CA_PRIVATE_KEY_FILE));
      const error = await loadOrCreateCa(caDirectory, OPTIONS).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ name: 'CaStoreError', directory: caDirectory });
      expect(String((error as Error).message)).toContain(caDirectory);
      expect(String((error as Error).message)).toMatch(/Restore the missing file, or delete the directory/);
    });
  });
});
