/**
 * Certificate rotation on the local stack, as the README has a new user try it: a device enrolled with `cvm device
 * enroll` rotates with `cvm device rotate` (its old certificate REVOKED in the local CA, the new one verifying and
 * connecting); a device renews by hand, its proofs made with openssl (EC and RSA keys) and sent as raw HTTPS; and a
 * renewal never confirmed is rolled back at its deadline while the old certificate keeps working.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceMqttError, DeviceMqttSession, type DeviceCredentials } from '../../../client/device-mqtt.ts';
import { startLocalStack, type LocalStack } from '../../../local/stack.ts';
import { cvm, registerAndEnrollWithCli } from '../../unit/cli/support/run-cli.ts';

/** Long enough for any step to finish inside it on a loaded machine, short enough to wait for a rollback. */
const SHORT_WINDOW_SECONDS = 6;

let workDir: string;
/** The rotation window as deployed (7 days): nothing is rolled back while these tests run. */
let stack: LocalStack;
let shortWindowStack: LocalStack;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-rotation-'));
  [stack, shortWindowStack] = await Promise.all([
    startLocalStack({ dataDir: path.join(workDir, 'data'), port: 0, mqttPort: 0, log: () => undefined }),
    startLocalStack({
      dataDir: path.join(workDir, 'data-short-window'),
      port: 0,
      mqttPort: 0,
      log: () => undefined,
      settings: { rotationWindowSeconds: SHORT_WINDOW_SECONDS },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([stack?.close(), shortWindowStack?.close()]);
  await rm(workDir, { recursive: true, force: true });
});

function dataDirOf(on: LocalStack): string {
  return path.dirname(on.configFile);
}

/** Register `serial` and enroll it with `cvm device enroll`; returns the directory it wrote. */
async function enrolledWithCli(on: LocalStack, serial: string): Promise<string> {
  const dir = path.join(workDir, serial);
  await registerAndEnrollWithCli(dataDirOf(on), serial, dir);
  return dir;
}

function rotateWithCli(on: LocalStack, dir: string, ...flags: string[]) {
  return cvm(['device', 'rotate', '--dir', dir, '--data-dir', dataDirOf(on), ...flags]);
}

async function show(on: LocalStack, serial: string) {
  const run = await cvm(['admin', 'show', serial, '--data-dir', dataDirOf(on), '--json']);
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as {
    device: { status: string; certificateId: string; pendingCertificateId: string | null; confirmBy: string | null };
    events: { type: string; actor: string; details: Record<string, string> | null }[];
  };
}

/**
 * The certificate's status in the local CA, read as the README shows: the last line for it in
 * `<data dir>/iot/registry/snapshot.jsonl` and then `journal.jsonl`.
 */
async function authorityStatus(on: LocalStack, certificateId: string): Promise<string | undefined> {
  const registry = path.join(dataDirOf(on), 'iot', 'registry');
  const lines = [
    ...(await readFile(path.join(registry, 'snapshot.jsonl'), 'utf8')).split('\n'),
    ...(await readFile(path.join(registry, 'journal.jsonl'), 'utf8')).split('\n'),
  ];
  const versions = lines
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { kind: string; key: string; record: { status: string } | null })
    .filter((version) => version.kind === 'certificate' && version.key === certificateId);
  return versions.at(-1)?.record?.status;
}

/** Connects with this key and certificate: 'connected', or the refusal's type. */
async function connects(on: LocalStack, thingName: string, files: { key: string; certificate: string }) {
  const credentials: DeviceCredentials = {
    thingName,
    serialNumber: thingName,
    iotEndpoint: on.config.iotEndpoint,
    certificatePem: await readFile(files.certificate, 'utf8'),
    keyPem: await readFile(files.key, 'utf8'),
    caPem: await readFile(on.config.tlsCaFile, 'utf8'),
  };
  try {
    const session = await DeviceMqttSession.open(credentials, {
      host: on.config.iotEndpoint,
      port: on.config.mqttPort,
    });
    await session.end();
    return 'connected';
  } catch (error) {
    if (error instanceof DeviceMqttError) return error.errorType;
    throw error;
  }
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface GraphqlAnswer {
  data?: Record<string, Record<string, string | null> | null> | null;
  errors?: { errorType?: string; message: string }[];
}

/** A device call as curl sends it: one HTTPS POST with the API key. */
async function deviceCall(on: LocalStack, query: string, input: Record<string, string>): Promise<GraphqlAnswer> {
  const ca = await readFile(on.config.tlsCaFile, 'utf8');
  const body = JSON.stringify({ query, variables: { i: input } });
  return new Promise((resolve, reject) => {
    const req = request(on.config.graphqlUrl, {
      method: 'POST',
      ca,
      headers: { 'content-type': 'application/json', 'x-api-key': on.config.apiKey },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(JSON.parse(text) as GraphqlAnswer));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ENROLL =
  'mutation($i: RequestCertificateInput!) { requestCertificate(input: $i) { certificateId certificatePem } }';
const RENEW =
  'mutation($i: RenewCertificateInput!) { renewCertificate(input: $i) { certificateId certificatePem confirmBy } }';
const CONFIRM =
  'mutation($i: ConfirmCertificateInput!) { confirmCertificate(input: $i) { certificateId pendingCertificateId } }';

const KEY_COMMANDS = {
  ec: ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out'],
  rsa: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out'],
} as const;

interface HandDevice {
  readonly serial: string;
  readonly dir: string;
  readonly key: string;
  readonly certificate: string;
  readonly certificateId: string;
}

/** A device enrolled by hand, as the README's openssl and curl section does it. */
async function enrolledByHand(on: LocalStack, serial: string, keyKind: keyof typeof KEY_COMMANDS): Promise<HandDevice> {
  const registered = await cvm(['admin', 'register', serial, '--data-dir', dataDirOf(on), '--json']);
  const { registrationToken } = JSON.parse(registered.stdout) as { registrationToken: string };
  const dir = path.join(workDir, serial);
  await mkdir(dir);
  const key = path.join(dir, 'device.key');
  openssl(...KEY_COMMANDS[keyKind], key);
  const csr = openssl('req', '-new', '-key', key, '-subj', `/CN=${serial}`);
  const answer = await deviceCall(on, ENROLL, { serialNumber: serial, registrationToken, csr });
  const grant = answer.data?.requestCertificate;
  expect(answer.errors).toBeUndefined();
  const certificate = path.join(dir, 'device.crt');
  await writeFile(certificate, grant?.certificatePem ?? '');
  return { serial, dir, key, certificate, certificateId: grant?.certificateId ?? '' };
}

/**
 * renewCertificate by hand: a new key and CSR, the CSR's DER signed with the current key
 * (`openssl dgst -sha256 -sign device.key -out renew.sig next.csr.der`), base64.
 */
async function renewByHand(on: LocalStack, device: HandDevice, keyKind: keyof typeof KEY_COMMANDS) {
  const file = (name: string) => path.join(device.dir, name);
  openssl(...KEY_COMMANDS[keyKind], file('next.key'));
  openssl('req', '-new', '-key', file('next.key'), '-subj', `/CN=${device.serial}`, '-out', file('next.csr'));
  openssl('req', '-in', file('next.csr'), '-outform', 'DER', '-out', file('next.csr.der'));
  openssl('dgst', '-sha256', '-sign', device.key, '-out', file('renew.sig'), file('next.csr.der'));
  const signature = openssl('base64', '-A', '-in', file('renew.sig'));
  const csr = await readFile(file('next.csr'), 'utf8');
  const answer = await deviceCall(on, RENEW, {
    serialNumber: device.serial,
    certificateId: device.certificateId,
    csr,
    signature,
  });
  const grant = answer.data?.renewCertificate;
  await writeFile(file('next.crt'), grant?.certificatePem ?? '');
  return { answer, certificateId: grant?.certificateId ?? '', key: file('next.key'), certificate: file('next.crt') };
}

/** confirmCertificate by hand: the new certificate's DER signed with the new key. */
async function confirmByHand(on: LocalStack, device: HandDevice, renewed: { certificateId: string }) {
  const file = (name: string) => path.join(device.dir, name);
  openssl('x509', '-in', file('next.crt'), '-outform', 'DER', '-out', file('next.crt.der'));
  openssl('dgst', '-sha256', '-sign', file('next.key'), '-out', file('confirm.sig'), file('next.crt.der'));
  const signature = openssl('base64', '-A', '-in', file('confirm.sig'));
  return deviceCall(on, CONFIRM, { serialNumber: device.serial, certificateId: renewed.certificateId, signature });
}

describe('cvm device rotate on the local stack', () => {
  it('rotates an enrolled device: the old certificate is REVOKED, the new one verifies and connects', async () => {
    const dir = await enrolledWithCli(stack, 'ROT-CLI-1');
    const oldCertificateId = (
      JSON.parse(await readFile(path.join(dir, 'device.json'), 'utf8')) as { certificateId: string }
    ).certificateId;
    const oldFiles = { key: path.join(workDir, 'old.key.pem'), certificate: path.join(workDir, 'old.cert.pem') };
    await writeFile(oldFiles.key, await readFile(path.join(dir, 'device.key.pem')));
    await writeFile(oldFiles.certificate, await readFile(path.join(dir, 'device.cert.pem')));

    const run = await rotateWithCli(stack, dir, '--json');

    expect(run.code).toBe(0);
    expect(run.stderr.split('\n').map((line) => /^ok {2}(\S+(?: \S+)?)/.exec(line)?.[1])).toEqual([
      'new key',
      'renew',
      'check',
      'confirm',
      'replace files',
      undefined,
    ]);
    expect(run.stderr).toContain(
      `connected to localhost:${stack.config.mqttPort} as ROT-CLI-1 with the new certificate`,
    );
    const result = JSON.parse(run.stdout) as { certificateId: string; previousCertificateId: string };
    expect(result.previousCertificateId).toBe(oldCertificateId);
    expect(await authorityStatus(stack, oldCertificateId)).toBe('REVOKED');
    expect(await authorityStatus(stack, result.certificateId)).toBe('ACTIVE');
    const newCertificate = path.join(dir, 'device.cert.pem');
    expect(openssl('verify', '-purpose', 'sslclient', '-CAfile', stack.config.deviceCaFile, newCertificate)).toContain(
      ': OK',
    );
    expect(
      await connects(stack, 'ROT-CLI-1', { key: path.join(dir, 'device.key.pem'), certificate: newCertificate }),
    ).toBe('connected');
    expect(await connects(stack, 'ROT-CLI-1', oldFiles)).toBe('NotAuthorized');
    expect((await readdir(dir)).sort()).toEqual([
      'ca.pem',
      'device.cert.pem',
      'device.csr.pem',
      'device.json',
      'device.key.pem',
    ]);

    const shown = await show(stack, 'ROT-CLI-1');
    expect(shown.device).toMatchObject({ certificateId: result.certificateId, pendingCertificateId: null });
    expect(shown.events.map((event) => event.type).slice(0, 3)).toEqual(['ROTATED', 'RENEWAL_REQUESTED', 'ISSUED']);
    expect(shown.events[0]?.details).toEqual({
      certificateId: result.certificateId,
      previousCertificateId: oldCertificateId,
    });
  });

  it('refuses to rotate a revoked device with InvalidProof, and changes none of its files', async () => {
    const dir = await enrolledWithCli(stack, 'ROT-CLI-REVOKED');
    expect(
      (await cvm(['admin', 'revoke', 'ROT-CLI-REVOKED', '--reason', 'test', '--data-dir', dataDirOf(stack)])).code,
    ).toBe(0);
    const before = await readFile(path.join(dir, 'device.cert.pem'), 'utf8');

    const run = await rotateWithCli(stack, dir);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cvm: InvalidProof: The server refused the renewal:');
    expect(await readFile(path.join(dir, 'device.cert.pem'), 'utf8')).toBe(before);
  });
});

describe('rotation by hand with openssl, as the README shows it', () => {
  it.each(['ec', 'rsa'] as const)('renews and confirms with %s proofs made by openssl', async (keyKind) => {
    const device = await enrolledByHand(stack, `ROT-HAND-${keyKind.toUpperCase()}`, keyKind);

    const renewed = await renewByHand(stack, device, keyKind);
    expect(renewed.answer.errors).toBeUndefined();
    // Both work until the confirmation.
    expect(await connects(stack, device.serial, device)).toBe('connected');
    expect(await connects(stack, device.serial, renewed)).toBe('connected');
    const listed = await cvm(['admin', 'list', '--rotation-pending', '--data-dir', dataDirOf(stack)]);
    expect(listed.stdout).toContain(`${device.serial}  `);
    expect(listed.stdout).toContain(renewed.certificateId.slice(0, 12));
    const pending = await cvm(['admin', 'show', device.serial, '--data-dir', dataDirOf(stack)]);
    expect(pending.stdout).toMatch(new RegExp(`Pending certificate: +${renewed.certificateId} \\(rotation under way`));
    expect(pending.stdout).toMatch(/Confirm by: +\d{4}-\d\d-\d\dT/);

    const confirmed = await confirmByHand(stack, device, renewed);
    expect(confirmed).toEqual({
      data: { confirmCertificate: { certificateId: renewed.certificateId, pendingCertificateId: null } },
    });
    expect(await authorityStatus(stack, device.certificateId)).toBe('REVOKED');
    expect(await connects(stack, device.serial, device)).toBe('NotAuthorized');
    expect(await connects(stack, device.serial, renewed)).toBe('connected');
    // Confirming again is harmless: the same answer.
    expect(await confirmByHand(stack, device, renewed)).toEqual(confirmed);
  });

  it('answers InvalidProof to a renewal signed with another key, and issues nothing', async () => {
    const device = await enrolledByHand(stack, 'ROT-HAND-WRONG', 'ec');
    const impostor = { ...device, key: path.join(device.dir, 'impostor.key') };
    openssl(...KEY_COMMANDS.ec, impostor.key);

    const renewed = await renewByHand(stack, impostor, 'ec');

    expect(renewed.answer.errors?.map((error) => error.errorType)).toEqual(['InvalidProof']);
    expect((await show(stack, device.serial)).device.pendingCertificateId).toBeNull();
  });
});

describe('a renewal never confirmed', () => {
  it('is rolled back at its deadline: the old certificate keeps working, the pending one is revoked', async () => {
    // One device renews by hand and never confirms; another runs `cvm device rotate` whose check fails.
    const device = await enrolledByHand(shortWindowStack, 'ROT-ROLLBACK-1', 'ec');
    const renewed = await renewByHand(shortWindowStack, device, 'ec');
    expect(renewed.answer.errors).toBeUndefined();
    const cliDir = await enrolledWithCli(shortWindowStack, 'ROT-ROLLBACK-CLI');
    const wrongCa = shortWindowStack.config.tlsCaFile;
    const failed = await rotateWithCli(shortWindowStack, cliDir, '--check', 'certificate', '--device-ca', wrongCa);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('cvm: CheckFailed: The new certificate does not pass the check');

    await untilRolledBack(['ROT-ROLLBACK-1', 'ROT-ROLLBACK-CLI']);

    expect(await connects(shortWindowStack, device.serial, device)).toBe('connected');
    expect(await connects(shortWindowStack, device.serial, renewed)).toBe('NotAuthorized');
    expect(await authorityStatus(shortWindowStack, renewed.certificateId)).toBe('REVOKED');
    expect(await authorityStatus(shortWindowStack, device.certificateId)).toBe('ACTIVE');
    const shown = await show(shortWindowStack, device.serial);
    expect(shown.device).toMatchObject({ status: 'ACTIVE', certificateId: device.certificateId, confirmBy: null });
    expect(shown.events[0]).toMatchObject({
      type: 'ROTATION_ROLLED_BACK',
      actor: 'rotation-sweep',
      details: { certificateId: renewed.certificateId, keptCertificateId: device.certificateId },
    });
    // Too late to confirm now.
    expect((await confirmByHand(shortWindowStack, device, renewed)).errors?.[0]?.errorType).toBe('InvalidProof');

    // The CLI's device runs again: the refused confirmation sends it back to renew, with the same new key.
    const nextKey = await readFile(path.join(cliDir, 'next.key.pem'), 'utf8');
    const again = await rotateWithCli(shortWindowStack, cliDir);
    expect(again.stderr).toContain('has passed, so it was rolled back (revoked). The current certificate still works');
    expect(again.code).toBe(0);
    expect(await readFile(path.join(cliDir, 'device.key.pem'), 'utf8')).toBe(nextKey);
  });
});

/** Polls until none of `serials` has a pending certificate (the sweep runs every second with this window). */
async function untilRolledBack(serials: readonly string[]): Promise<void> {
  const giveUpAt = Date.now() + (SHORT_WINDOW_SECONDS + 20) * 1000;
  for (;;) {
    const pending = [];
    for (const serial of serials) {
      if ((await show(shortWindowStack, serial)).device.pendingCertificateId !== null) pending.push(serial);
    }
    if (pending.length === 0) return;
    if (Date.now() > giveUpAt) throw new Error(`still pending: ${pending.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
