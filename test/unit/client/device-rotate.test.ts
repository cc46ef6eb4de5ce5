import 'reflect-metadata';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollDevice } from '../../../client/device-enroll.ts';
import { generatePrivateKeyPem } from '../../../client/device-key.ts';
import { rotateDevice, type RotateOptions, type RotationStep } from '../../../client/device-rotate.ts';
import { RotationError } from '../../../client/errors.ts';
import { durableFiles, type DurableFiles } from '../../../client/files.ts';
import type { GraphqlClient, GraphqlVariables } from '../../../client/graphql-client.ts';
import { checkOffline, type CertificateCheck } from '../../../client/rotation-check.ts';
import { scriptedIssuer, type TestCa } from './support/fake-issuer.ts';
import { describe as describeCertificate, fakeRotationServer, refusal } from './support/fake-rotation-server.ts';
import type { FakeRotationServer } from './support/fake-rotation-server.ts';

const SERIAL = 'SN-0001';
const EIGHT_DAYS_MS = 8 * 24 * 3600_000;

let workDir: string;

beforeEach(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-rotate-'));
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

interface Enrolled {
  readonly dir: string;
  readonly ca: TestCa;
  readonly server: FakeRotationServer;
  readonly clock: { now: Date };
  /** The certificate the device enrolled with. */
  readonly originalId: string;
}

let devices = 0;

/** A directory as `cvm device enroll` leaves it, and a server that holds its certificate as current. */
async function enrolledDevice(): Promise<Enrolled> {
  const issuer = await scriptedIssuer();
  devices += 1;
  const dir = path.join(workDir, `device-${devices}`);
  const enrolled = await enrollDevice({
    serialNumber: SERIAL,
    registrationToken: 't',
    client: issuer.client,
    outDir: dir,
  });
  const clock = { now: new Date() };
  const server = fakeRotationServer({
    ca: issuer.ca,
    serialNumber: SERIAL,
    currentCertificatePem: await readFile(path.join(dir, 'device.cert.pem'), 'utf8'),
    currentCertificateId: enrolled.certificateId,
    now: () => clock.now,
  });
  return { dir, ca: issuer.ca, server, clock, originalId: server.state.current.id };
}

interface Run {
  readonly steps: RotationStep[];
  readonly progress: string[];
}

async function rotate(device: Enrolled, options: Partial<RotateOptions> = {}, run: Run = { steps: [], progress: [] }) {
  return rotateDevice({
    dir: device.dir,
    client: device.server.client,
    check: checkOffline({ issuerPem: device.ca.certificatePem }),
    now: () => device.clock.now,
    retry: { sleep: () => Promise.resolve(), random: () => 0 },
    onStep: (step) => run.steps.push(step),
    onProgress: (message) => run.progress.push(message),
    ...options,
  });
}

function certifies(certificatePem: string, keyPem: string): boolean {
  return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
}

async function readIfPresent(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}

/** The rotation is over: the device's files hold the new pair, which the server holds as current; nothing else left. */
async function expectRotated(device: Enrolled): Promise<void> {
  const { dir, server } = device;
  const certificatePem = await readFile(path.join(dir, 'device.cert.pem'), 'utf8');
  const keyPem = await readFile(path.join(dir, 'device.key.pem'), 'utf8');
  const metadata = JSON.parse(await readFile(path.join(dir, 'device.json'), 'utf8')) as { certificateId: string };
  expect(server.state.current.id).not.toBe(device.originalId);
  expect(describeCertificate(certificatePem).id).toBe(server.state.current.id);
  expect(metadata.certificateId).toBe(server.state.current.id);
  expect(certifies(certificatePem, keyPem)).toBe(true);
  expect((await stat(path.join(dir, 'device.key.pem'))).mode & 0o777).toBe(0o600);
  expect(new Pkcs10CertificateRequest(await readFile(path.join(dir, 'device.csr.pem'), 'utf8')).subject).toBe(
    `CN=${SERIAL}`,
  );
  expect(server.state.pending).toBeUndefined();
  expect(server.state.revoked).toEqual([device.originalId]);
  expect((await readdir(dir)).sort()).toEqual([
    'ca.pem',
    'device.cert.pem',
    'device.csr.pem',
    'device.json',
    'device.key.pem',
  ]);
}

/**
 * At any instant some pair on disk works: device.* or next.*, a key and the certificate for it that the server
 * holds as the device's current or pending certificate.
 */
async function expectUsablePair(device: Enrolled): Promise<void> {
  const { current, pending } = device.server.state;
  const working = new Set([current.pem, pending?.pem].map((pem) => pem?.trim()));
  const usable = [];
  for (const prefix of ['device', 'next']) {
    const certificatePem = await readIfPresent(path.join(device.dir, `${prefix}.cert.pem`));
    const keyPem = await readIfPresent(path.join(device.dir, `${prefix}.key.pem`));
    if (certificatePem === undefined || keyPem === undefined) continue;
    if (certifies(certificatePem, keyPem) && working.has(certificatePem.trim())) usable.push(prefix);
  }
  expect(usable.length).toBeGreaterThan(0);
}

class PowerCut extends Error {
  override readonly name = 'PowerCut';
}

/** Counts the points where the power can go (before each file change, before and after each call) and cuts at one. */
function powerCutAt(point: number): { tick: (where: string) => void } {
  let passed = 0;
  return {
    tick: (where) => {
      passed += 1;
      if (passed - 1 === point) throw new PowerCut(where);
    },
  };
}

function cutting(tick: (where: string) => void): DurableFiles {
  return {
    create: async (file, content, mode) => {
      tick(`create ${path.basename(file)}`);
      await durableFiles.create(file, content, mode);
    },
    replace: async (file, content, mode) => {
      tick(`replace ${path.basename(file)}`);
      await durableFiles.replace(file, content, mode);
    },
    remove: async (file) => {
      tick(`remove ${path.basename(file)}`);
      await durableFiles.remove(file);
    },
  };
}

/** Runs rotateDevice with the power cut at `point`; the cut's place, or undefined when the run got through. */
async function runCutAt(device: Enrolled, point: number): Promise<string | undefined> {
  const cut = powerCutAt(point);
  device.server.hooks = { before: (op) => cut.tick(`before ${op}`), after: (op) => cut.tick(`after ${op}`) };
  try {
    await rotate(device, { files: cutting(cut.tick) });
    return undefined;
  } catch (error) {
    if (!(error instanceof PowerCut)) throw error;
    return error.message;
  } finally {
    device.server.hooks = {};
  }
}

describe('rotateDevice', () => {
  it('makes a new key, renews, checks, confirms and replaces the device files, a step at a time', async () => {
    const device = await enrolledDevice();
    const oldKey = await readFile(path.join(device.dir, 'device.key.pem'), 'utf8');
    const run: Run = { steps: [], progress: [] };

    const result = await rotate(device, {}, run);

    await expectRotated(device);
    expect(await readFile(path.join(device.dir, 'device.key.pem'), 'utf8')).not.toBe(oldKey);
    expect(device.server.calls).toEqual(['renewCertificate', 'confirmCertificate']);
    expect(device.server.state.issued).toHaveLength(1);
    expect(run.steps.map((step) => step.step)).toEqual(['new key', 'renew', 'check', 'confirm', 'replace files']);
    expect(run.steps[1]?.detail).toMatch(/^certificate [0-9a-f]{12}… issued, to be confirmed by \d{4}-/);
    expect(run.steps[2]?.detail).toContain('chains to CN=cvm test CA');
    expect(run.progress).toEqual([]);
    expect(result).toMatchObject({
      serialNumber: SERIAL,
      thingName: `thing-${SERIAL}`,
      certificateId: device.server.state.current.id,
      previousCertificateId: device.originalId,
      keyType: 'ec-p256',
    });
  });

  it.each(['ec-p384', 'rsa-2048'] as const)('rotates to a new %s key', async (keyType) => {
    const device = await enrolledDevice();

    const result = await rotate(device, { keyType });

    await expectRotated(device);
    expect(result.keyType).toBe(keyType);
  });

  it('rotates again after a rotation: the new certificate proves the next renewal', async () => {
    const device = await enrolledDevice();
    await rotate(device);
    const second = await rotate(device);

    expect(device.server.state.issued).toHaveLength(2);
    expect(device.server.state.revoked).toEqual([device.originalId, second.previousCertificateId]);
    expect(second.certificateId).toBe(device.server.state.current.id);
  });

  it('survives a power cut at every point, and the next run finishes with one new certificate', async () => {
    const cuts: string[] = [];
    for (let point = 0; ; point += 1) {
      const device = await enrolledDevice();
      const cut = await runCutAt(device, point);
      if (cut === undefined) break;
      cuts.push(cut);
      await expectUsablePair(device);

      await rotate(device);

      await expectRotated(device);
      expect(device.server.state.issued).toHaveLength(1);
    }
    // Every file change and both sides of every call were a cut point.
    expect(cuts).toEqual([
      'create next.key.pem',
      'replace next.csr.pem',
      'before renewCertificate',
      'after renewCertificate',
      'replace next.cert.pem',
      'replace next.ca.pem',
      'replace next.json',
      'before confirmCertificate',
      'after confirmCertificate',
      'replace device.cert.pem',
      'replace device.key.pem',
      'replace device.csr.pem',
      'replace ca.pem',
      'replace device.json',
      'remove next.json',
      'remove next.cert.pem',
      'remove next.csr.pem',
      'remove next.ca.pem',
      'remove next.key.pem',
    ]);
  });

  it('survives a second power cut while it resumes from the first', async () => {
    for (let first = 0; first < 19; first += 1) {
      for (const second of [1, 4]) {
        const device = await enrolledDevice();
        expect(await runCutAt(device, first)).toBeDefined();
        const secondCut = await runCutAt(device, second);
        await expectUsablePair(device);

        // A run that got through finished the rotation; one more would start the next rotation.
        if (secondCut !== undefined) await rotate(device);

        await expectRotated(device);
        expect(device.server.state.issued).toHaveLength(1);
      }
    }
  });

  it('confirmed by a run whose answer was lost, and past the deadline: confirms again and replaces the files', async () => {
    const device = await enrolledDevice();
    expect(await runCutAt(device, 8)).toBe('after confirmCertificate');
    device.clock.now = new Date(device.clock.now.getTime() + EIGHT_DAYS_MS);
    let checked = false;
    const run: Run = { steps: [], progress: [] };

    await rotate(
      device,
      {
        check: () => {
          checked = true;
          return Promise.resolve('checked');
        },
      },
      run,
    );

    await expectRotated(device);
    expect(checked).toBe(false);
    expect(run.steps.map((step) => `${step.step}: ${step.detail}`)).toEqual([
      expect.stringMatching(/^new key: using the EC P-256 key an earlier run made in /),
      expect.stringMatching(/^renew: certificate [0-9a-f]{12}… from an earlier run, to be confirmed by /),
      expect.stringMatching(/^confirm: certificate [0-9a-f]{12}… is the device's now; [0-9a-f]{12}… is revoked$/),
      expect.stringMatching(/^replace files: /),
    ]);
  });

  it('does not confirm a certificate that fails the check; the old one keeps working and a later run resumes', async () => {
    const device = await enrolledDevice();
    const failing: CertificateCheck = () =>
      Promise.reject(new RotationError('CheckFailed', 'The new certificate does not work: refused.'));
    const oldFiles = await readFile(path.join(device.dir, 'device.cert.pem'), 'utf8');

    await expect(rotate(device, { check: failing })).rejects.toMatchObject({ errorType: 'CheckFailed' });

    expect(device.server.calls).toEqual(['renewCertificate']);
    expect(device.server.state.current.id).toBe(device.originalId);
    expect(await readFile(path.join(device.dir, 'device.cert.pem'), 'utf8')).toBe(oldFiles);
    await rotate(device);
    await expectRotated(device);
    expect(device.server.state.issued).toHaveLength(1);
    expect(device.server.calls).toEqual(['renewCertificate', 'confirmCertificate']);
  });

  it('renews again with the same key when the pending certificate was rolled back past its deadline', async () => {
    const device = await enrolledDevice();
    const failing: CertificateCheck = () => Promise.reject(new RotationError('CheckFailed', 'refused'));
    await expect(rotate(device, { check: failing })).rejects.toThrow('refused');
    const nextKey = await readFile(path.join(device.dir, 'next.key.pem'), 'utf8');
    const rolledBack = device.server.state.pending?.id;
    device.clock.now = new Date(device.clock.now.getTime() + EIGHT_DAYS_MS);
    const run: Run = { steps: [], progress: [] };

    await rotate(device, {}, run);

    expect(run.progress).toEqual([
      expect.stringMatching(
        /^The server refused to confirm certificate [0-9a-f]{12}… \(InvalidProof\): its deadline .* has passed, so it was rolled back \(revoked\)\. The current certificate still works; renewing again with the same new key\.$/,
      ),
    ]);
    expect(await readFile(path.join(device.dir, 'device.key.pem'), 'utf8')).toBe(nextKey);
    expect(device.server.state.issued.map((issued) => issued.id)).toEqual([rolledBack, device.server.state.current.id]);
    expect(device.server.state.revoked).toEqual([rolledBack, device.originalId]);
    expect(device.server.state.issued[0]?.keyFingerprint).toBe(device.server.state.issued[1]?.keyFingerprint);
  });

  it('renews again when the server refuses the confirmation before the deadline (replaced, or its clock is ahead)', async () => {
    const device = await enrolledDevice();
    const failing: CertificateCheck = () => Promise.reject(new RotationError('CheckFailed', 'refused'));
    await expect(rotate(device, { check: failing })).rejects.toThrow('refused');
    // The server rolled it back: its clock is ahead of the device's.
    device.server.state.revoked.push(device.server.state.pending?.id ?? '');
    device.server.state.pending = undefined;
    const run: Run = { steps: [], progress: [] };

    await rotate(device, {}, run);

    expect(run.progress[0]).toContain('it is no longer pending: rolled back');
    expect(device.server.state.issued).toHaveLength(2);
    expect(device.server.calls).toEqual([
      'renewCertificate',
      'confirmCertificate',
      'renewCertificate',
      'confirmCertificate',
    ]);
    expect(device.server.state.current.id).toBe(device.server.state.issued[1]?.id);
  });

  it('says clearly when the server refuses the renewal proof (a revoked device), and changes nothing', async () => {
    const device = await enrolledDevice();
    device.server.state.status = 'REVOKED';
    const before = await readdir(device.dir);

    const error = await rotate(device).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RotationError);
    expect(error).toMatchObject({ errorType: 'InvalidProof' });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^The server refused the renewal: .*device\\.cert\\.pem \\(certificate ${device.originalId}\\) is not the current certificate of an active device ${SERIAL} there\\. The device was revoked or reset`,
      ),
    );
    expect((await readdir(device.dir)).sort()).toEqual([...before, 'next.csr.pem', 'next.key.pem'].sort());
  });

  it('says which key was pinned when the server answers KeyMismatch', async () => {
    const device = await enrolledDevice();
    device.server.state.pin = 'f'.repeat(64);

    const error = await rotate(device).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ errorType: 'KeyMismatch' });
    expect(String(error)).toContain(`An administrator pinned another key for ${SERIAL}'s next certificate`);
  });

  it('retries IssuanceInProgress and Throttled, saying so', async () => {
    const device = await enrolledDevice();
    device.server.refuseNext.push(
      refusal('IssuanceInProgress', 'Another renewal is under way.'),
      refusal('Throttled', 'Slow down.'),
    );
    const run: Run = { steps: [], progress: [] };

    await rotate(device, {}, run);

    await expectRotated(device);
    expect(run.progress).toEqual([
      'IssuanceInProgress: Another renewal is under way. Retrying in 0 ms (attempt 2 of 18).',
      'Throttled: Slow down. Retrying in 0 ms (attempt 3 of 18).',
    ]);
  });

  it('reuses a new key an earlier run left, whatever its type, with a warning', async () => {
    const device = await enrolledDevice();
    await writeFile(path.join(device.dir, 'next.key.pem'), await generatePrivateKeyPem('ec-p384'), { mode: 0o600 });
    const run: Run = { steps: [], progress: [] };

    const result = await rotate(device, { keyType: 'rsa-2048' }, run);

    expect(result.keyType).toBe('ec-p384');
    expect(run.steps[0]?.detail).toMatch(/^using the EC P-384 key an earlier run made in /);
    expect(run.progress[0]).toMatch(
      /^Warning: RSA 2048 was asked for, but the EC P-384 key an earlier run made is used/,
    );
  });

  it('refuses a directory with no enrolled device', async () => {
    const device = await enrolledDevice();
    await rm(path.join(device.dir, 'device.json'));

    const error = await rotate(device).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ errorType: 'NotEnrolled' });
    expect(String(error)).toContain('rotation needs the device.json and device.key.pem');
    expect(device.server.calls).toEqual([]);
  });

  it('does not write a certificate the server issued for another key', async () => {
    const device = await enrolledDevice();
    const strangerKeys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const foreignPem = await device.ca.issue(`CN=${SERIAL}`, strangerKeys.publicKey);
    const lying: GraphqlClient = {
      request: async <T>(query: string, variables?: GraphqlVariables): Promise<T> => {
        const answer = await device.server.client.request<Record<string, object>>(query, variables);
        const grant = answer.renewCertificate;
        return (grant === undefined ? answer : { renewCertificate: { ...grant, certificatePem: foreignPem } }) as T;
      },
    };

    await expect(rotate(device, { client: lying })).rejects.toMatchObject({ errorType: 'CertificateKeyMismatch' });
    expect(await readIfPresent(path.join(device.dir, 'next.cert.pem'))).toBeUndefined();
    expect(device.server.calls).toEqual(['renewCertificate']);
  });
});

describe('checkOffline', () => {
  it('refuses a certificate that does not chain to the given CA', async () => {
    const device = await enrolledDevice();
    const stranger = await enrolledDevice();

    const error = await rotate(device, { check: checkOffline({ issuerPem: stranger.ca.certificatePem }) }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ errorType: 'CheckFailed' });
    expect(String(error)).toContain('it is not signed by CN=cvm test CA');
    expect(device.server.calls).toEqual(['renewCertificate']);
  });

  it('without a CA checks the key, the subject and the validity, and says the chain was not checked', async () => {
    const device = await enrolledDevice();
    const run: Run = { steps: [], progress: [] };

    await rotate(device, { check: checkOffline() }, run);

    expect(run.steps[2]?.detail).toBe(
      'the certificate is for the new key, names the device and is valid now (chain not checked: no CA given)',
    );
  });
});
