/**
 * Key pinning on the local stack, as a factory and a device drive it with the `cvm` command: the line reads the
 * public key (openssl stands in for the secure element), registers with `--public-key` or an import CSV, the
 * device enrolls with `cvm device enroll`; a clone with its own key and the stolen token is refused.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../../local/stack.ts';
import { cvm } from '../../unit/cli/support/run-cli.ts';

let dataDir: string;
let workDir: string;
let stack: LocalStack;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-pin-data-'));
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-pin-work-'));
  stack = await startLocalStack({ dataDir, port: 0, log: () => undefined });
});

afterAll(async () => {
  await stack?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(workDir, { recursive: true, force: true });
});

/**
 * A device directory whose key openssl made (`openssl ecparam … -genkey`), where `cvm device enroll` finds it, and
 * the public key file the factory registers (`openssl pkey -pubout`).
 */
async function factoryDevice(name: string): Promise<{ out: string; publicKeyFile: string; fingerprint: string }> {
  const out = path.join(workDir, name);
  await mkdir(out);
  const keyFile = path.join(out, 'device.key.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  await chmod(keyFile, 0o600);
  const publicKeyFile = path.join(workDir, `${name}.pub.pem`);
  execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', publicKeyFile]);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', publicKeyFile, '-outform', 'DER']);
  return { out, publicKeyFile, fingerprint: createHash('sha256').update(der).digest('hex') };
}

function enroll(serial: string, token: string, out: string) {
  return cvm(['device', 'enroll', '--serial', serial, '--token', token, '--data-dir', dataDir, '--out', out, '--json']);
}

function registrationOf(run: { code: number; stdout: string; stderr: string }) {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as { registrationToken: string; device: { publicKeyPin: string | null } };
}

async function show(serial: string) {
  const run = await cvm(['admin', 'show', serial, '--data-dir', dataDir, '--json']);
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as {
    device: { status: string; locked: boolean; publicKeyPin: string | null };
    events: { type: string }[];
  };
}

describe('key pinning on the local stack, with the cvm command', () => {
  it('enrolls the pinned device, refuses a clone with the same token, and a reset can pin another key', async () => {
    const device = await factoryDevice('pinned');
    const registered = registrationOf(
      await cvm([
        'admin',
        'register',
        'PIN-CLI-1',
        '--public-key',
        device.publicKeyFile,
        '--data-dir',
        dataDir,
        '--json',
      ]),
    );
    expect(registered.device.publicKeyPin).toBe(device.fingerprint);
    const token = registered.registrationToken;

    // A clone: the stolen token, and a key of its own (cvm makes one in an empty directory).
    const cloneDir = path.join(workDir, 'clone');
    const clone = await enroll('PIN-CLI-1', token, cloneDir);
    expect(clone.code).toBe(1);
    expect(clone.stderr).toContain('KeyMismatch');
    const afterClone = await show('PIN-CLI-1');
    expect(afterClone.device).toMatchObject({ status: 'PENDING', locked: false });
    expect(afterClone.events.map((event) => event.type)).toEqual(['REGISTERED']);

    // The genuine device enrolls with the key the factory registered.
    const enrolled = await enroll('PIN-CLI-1', token, device.out);
    expect(enrolled.code).toBe(0);
    const certificateKey = execFileSync(
      'openssl',
      ['x509', '-in', path.join(device.out, 'device.cert.pem'), '-noout', '-pubkey'],
      { encoding: 'utf8' },
    );
    expect(certificateKey).toBe(
      execFileSync('openssl', ['pkey', '-pubin', '-in', device.publicKeyFile], { encoding: 'utf8' }),
    );

    const text = await cvm(['admin', 'show', 'PIN-CLI-1', '--data-dir', dataDir]);
    expect(text.stdout).toMatch(new RegExp(`Pinned key \\(SHA-256\\):\\s+${device.fingerprint}`));

    // A new board: reset with its key; the reset keeps nothing of the old pin.
    const newBoard = await factoryDevice('new-board');
    const reset = registrationOf(
      await cvm([
        'admin',
        'reset',
        'PIN-CLI-1',
        '--public-key',
        newBoard.publicKeyFile,
        '--data-dir',
        dataDir,
        '--json',
      ]),
    );
    expect(reset.device.publicKeyPin).toBe(newBoard.fingerprint);
    expect((await enroll('PIN-CLI-1', reset.registrationToken, device.out)).stderr).toContain('KeyMismatch');
    expect((await enroll('PIN-CLI-1', reset.registrationToken, newBoard.out)).code).toBe(0);

    // A plain reset keeps the pin.
    const plain = registrationOf(await cvm(['admin', 'reset', 'PIN-CLI-1', '--data-dir', dataDir, '--json']));
    expect(plain.device.publicKeyPin).toBe(newBoard.fingerprint);
  });

  it('refuses a weak key at registration (InvalidInput) and registers nothing', async () => {
    const weakFile = path.join(workDir, 'weak.pub.pem');
    const weakKey = path.join(workDir, 'weak.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', weakKey], {
      stdio: 'pipe',
    });
    execFileSync('openssl', ['pkey', '-in', weakKey, '-pubout', '-out', weakFile]);
    const run = await cvm(['admin', 'register', 'PIN-CLI-WEAK', '--public-key', weakFile, '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/InvalidInput: publicKey is RSA 1024/);
    const shown = await cvm(['admin', 'show', 'PIN-CLI-WEAK', '--data-dir', dataDir]);
    expect(shown.stderr).toContain('DeviceNotFound');

    const missing = await cvm([
      'admin',
      'register',
      'PIN-CLI-WEAK',
      '--public-key',
      path.join(workDir, 'nope.pem'),
      '--data-dir',
      dataDir,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/InvalidInput: The public key file .*nope\.pem cannot be read/);
  });

  it('imports a CSV whose publicKey cells hold quoted PEM keys', async () => {
    const first = await factoryDevice('import-1');
    const publicKey = execFileSync('openssl', ['pkey', '-pubin', '-in', first.publicKeyFile], {
      encoding: 'utf8',
    }).trim();
    const csv = path.join(workDir, 'pinned.csv');
    await writeFile(csv, `serialNumber,publicKey\nPIN-IMP-1,"${publicKey}"\nPIN-IMP-2,\n`);
    const tokens = path.join(workDir, 'pinned-tokens.csv');
    const run = await cvm(['admin', 'import', csv, '--out', tokens, '--data-dir', dataDir]);
    expect(run.code).toBe(0);
    expect((await show('PIN-IMP-1')).device.publicKeyPin).toBe(first.fingerprint);
    expect((await show('PIN-IMP-2')).device.publicKeyPin).toBeNull();
  });
});
