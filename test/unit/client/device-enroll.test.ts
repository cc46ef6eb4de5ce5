import 'reflect-metadata';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pkcs10CertificateRequest, X509Certificate } from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollDevice, type EnrollOptions } from '../../../client/device-enroll.ts';
import { EnrollmentError, GraphqlError, HttpError, NetworkError } from '../../../client/errors.ts';
import { grantFor, scriptedIssuer, type CallScript } from './support/fake-issuer.ts';

const SERIAL = 'SN-0001';
const TOKEN = 'tok_3GdpGHNcwQsFLqv2cemSVjfvzEOUJs3LjtZZwn0GDi8';

let workDir: string;
let outDir: string;

beforeEach(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-enroll-'));
  outDir = path.join(workDir, 'device');
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function graphqlError(errorType: string): GraphqlError {
  return new GraphqlError([{ errorType, message: `${errorType} happened.`, path: ['requestCertificate'] }]);
}

/** Records the delays instead of waiting. */
function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

async function enroll(scripts: readonly CallScript[] = [], options: Partial<EnrollOptions> = {}) {
  const issuer = await scriptedIssuer(scripts);
  const { sleep, delays } = recordingSleep();
  const progress: string[] = [];
  const run = () =>
    enrollDevice({
      serialNumber: SERIAL,
      registrationToken: TOKEN,
      client: issuer.client,
      outDir,
      onProgress: (message) => progress.push(message),
      ...options,
      retry: { sleep, random: () => 0.5, ...options.retry },
    });
  return { issuer, delays, progress, run };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

describe('enrollDevice', () => {
  it('makes a key with mode 0600 in a 0700 directory and writes the certificate, CA and device.json', async () => {
    const { run, issuer } = await enroll();

    const result = await run();

    expect((await stat(outDir)).mode & 0o777).toBe(0o700);
    expect((await stat(result.files.key)).mode & 0o777).toBe(0o600);
    expect(await readFile(result.files.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(await readFile(result.files.ca, 'utf8')).toBe(issuer.ca.certificatePem + '\n');
    const certificate = new X509Certificate(await readFile(result.files.certificate, 'utf8'));
    expect(certificate.subject).toBe(`CN=${SERIAL}`);
    expect(JSON.parse(await readFile(result.files.metadata, 'utf8'))).toEqual({
      serialNumber: SERIAL,
      thingName: `thing-${SERIAL}`,
      certificateId: result.certificateId,
      certificateArn: result.certificateArn,
      iotEndpoint: 'example-ats.iot.us-east-1.amazonaws.com',
      issuedAt: '2026-11-29T12:00:00.000Z',
    });
    expect(result).toMatchObject({ serialNumber: SERIAL, keyType: 'ec-p256', keyReused: false });
  });

  it('sends the serial, the token and the CSR it wrote to device.csr.pem', async () => {
    const { run, issuer } = await enroll();

    const result = await run();

    expect(issuer.calls).toHaveLength(1);
    expect(issuer.calls[0]).toEqual({
      serialNumber: SERIAL,
      registrationToken: TOKEN,
      csr: await readFile(result.files.csr, 'utf8'),
    });
  });

  it('builds a CSR whose subject is exactly CN=<serial>, signed by the device key', async () => {
    const { run, issuer } = await enroll();

    await run();

    const csr = new Pkcs10CertificateRequest(issuer.calls[0]!.csr);
    expect(csr.subjectName.toJSON()).toEqual([{ CN: [SERIAL] }]);
    expect(csr.extensions).toHaveLength(0);
    expect(await csr.verify()).toBe(true);
  });

  it.each([
    { keyType: 'ec-p256', keyAlgorithm: { name: 'ECDSA', namedCurve: 'P-256' }, signature: ['ECDSA', 'SHA-256'] },
    { keyType: 'ec-p384', keyAlgorithm: { name: 'ECDSA', namedCurve: 'P-384' }, signature: ['ECDSA', 'SHA-384'] },
    {
      keyType: 'rsa-2048',
      keyAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      signature: ['RSASSA-PKCS1-v1_5', 'SHA-256'],
    },
  ] as const)(
    'makes a $keyType key and signs the CSR with $signature',
    async ({ keyType, keyAlgorithm, signature }) => {
      const { run, issuer } = await enroll([], { keyType });

      const result = await run();

      const csr = new Pkcs10CertificateRequest(issuer.calls[0]!.csr);
      expect(csr.publicKey.algorithm).toMatchObject(keyAlgorithm);
      expect(csr.signatureAlgorithm).toMatchObject({ name: signature[0], hash: { name: signature[1] } });
      expect(await csr.verify()).toBe(true);
      expect(result.keyType).toBe(keyType);
      if (keyType === 'rsa-2048') {
        const key = createPrivateKey(await readFile(result.files.key, 'utf8'));
        expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      }
    },
  );

  it('reuses the key on a second run, so both CSRs carry the same public key', async () => {
    const { run, issuer } = await enroll();

    const first = await run();
    const keyPem = await readFile(first.files.key, 'utf8');
    const second = await run();

    expect(second.keyReused).toBe(true);
    expect(await readFile(second.files.key, 'utf8')).toBe(keyPem);
    const [firstCsr, secondCsr] = issuer.calls.map((call) => new Pkcs10CertificateRequest(call.csr));
    expect(Buffer.from(secondCsr!.publicKey.rawData)).toEqual(Buffer.from(firstCsr!.publicKey.rawData));
  });

  it('keeps an existing key of another type, and says so', async () => {
    const { run, issuer, progress } = await enroll([], { keyType: 'ec-p384' });
    await run();

    const again = await enroll([], { keyType: 'rsa-2048' });
    const result = await again.run();

    expect(result.keyType).toBe('ec-p384');
    expect(again.progress.some((line) => line.startsWith('Warning: RSA 2048 was asked for'))).toBe(true);
    expect(new Pkcs10CertificateRequest(again.issuer.calls[0]!.csr).publicKey.algorithm).toMatchObject({
      namedCurve: 'P-384',
    });
    expect(issuer.calls).toHaveLength(1);
    expect(progress.some((line) => line.startsWith('Warning'))).toBe(false);
  });

  it('lets two concurrent runs settle on one key', async () => {
    const { run, issuer } = await enroll();

    await Promise.all([run(), run()]);

    const [first, second] = issuer.calls.map((call) => new Pkcs10CertificateRequest(call.csr));
    expect(Buffer.from(first!.publicKey.rawData)).toEqual(Buffer.from(second!.publicKey.rawData));
  });

  it('refuses to lend a key made for one device to another (one key, one device)', async () => {
    const first = await enroll();
    await first.run();
    const second = await enroll([], { serialNumber: 'SN-0002' });

    const error = await second.run().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EnrollmentError);
    expect(error).toMatchObject({ errorType: 'KeyOfAnotherDevice' });
    expect(second.issuer.calls).toHaveLength(0);
    const metadata = JSON.parse(await readFile(path.join(outDir, 'device.json'), 'utf8')) as { serialNumber: string };
    expect(metadata.serialNumber).toBe(SERIAL);
  });

  it('retries IssuanceInProgress with growing, jittered delays, then succeeds', async () => {
    const { run, issuer, delays, progress } = await enroll([
      graphqlError('IssuanceInProgress'),
      graphqlError('IssuanceInProgress'),
    ]);

    const result = await run();

    expect(issuer.calls).toHaveLength(3);
    // random() = 0.5 picks the middle of [0, 500) and then of [0, 1000).
    expect(delays).toEqual([250, 500]);
    expect(progress).toContain(
      'IssuanceInProgress: IssuanceInProgress happened. Retrying in 250 ms (attempt 2 of 30).',
    );
    expect(await exists(result.files.certificate)).toBe(true);
  });

  it.each([
    ['Throttled', graphqlError('Throttled')],
    ['a network failure', new NetworkError('No answer from https://example: socket hang up', { cause: new Error() })],
    ['a 503', new HttpError(503, 'Unavailable.')],
    ['InternalError (the server undid its work)', graphqlError('InternalError')],
  ])('retries %s', async (_name, error) => {
    const { run, issuer } = await enroll([error]);

    await run();

    expect(issuer.calls).toHaveLength(2);
  });

  it('gives up after the attempts (30 by default: two minutes, past a crashed claim and a factory burst) and throws the last error', async () => {
    const busy = Array.from({ length: 30 }, () => graphqlError('IssuanceInProgress'));
    const { run, issuer, delays } = await enroll(busy);

    const error = await run().catch((caught: unknown) => caught);

    expect(error).toBe(busy[29]);
    expect(issuer.calls).toHaveLength(30);
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, ...Array.from({ length: 24 }, () => 5000)]);
    // Full jitter halves the ceilings on average: the expected wait outlasts the server's 60 s lease, and the
    // 67 s a burst of 1,000 devices needs at AWS IoT's default quota.
    expect(delays.reduce((sum, delay) => sum + delay, 0)).toBeGreaterThan(120_000);
    expect(await exists(path.join(outDir, 'device.cert.pem'))).toBe(false);
  });

  it('caps every delay at maxDelayMs and honours a custom number of attempts', async () => {
    const busy = Array.from({ length: 4 }, () => graphqlError('Throttled'));
    const { run, delays } = await enroll(busy, {
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 300, random: () => 0.999 },
    });

    await expect(run()).rejects.toThrow(GraphqlError);

    expect(delays).toEqual([99, 199, 299]);
  });

  it.each(['InvalidCsr', 'InvalidRegistrationToken', 'AlreadyProvisioned', 'TooManyAttempts', 'CsrSubjectMismatch'])(
    'does not retry %s',
    async (errorType) => {
      const { run, issuer, delays } = await enroll([graphqlError(errorType)]);

      await expect(run()).rejects.toMatchObject({ name: 'GraphqlError', errorType });

      expect(issuer.calls).toHaveLength(1);
      expect(delays).toEqual([]);
    },
  );

  it('does not retry an HTTP 401', async () => {
    const { run, issuer } = await enroll([new HttpError(401, 'Unauthorized.')]);

    await expect(run()).rejects.toMatchObject({ errorType: 'UnauthorizedException' });

    expect(issuer.calls).toHaveLength(1);
  });

  it('refuses a certificate for another key and then writes no certificate, CA or device.json', async () => {
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const { run } = await enroll([
      async (call, ca) => ({ ...(await grantFor(call, ca)), certificatePem: await ca.issue(`CN=${SERIAL}`, otherKey) }),
    ]);

    const error = await run().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EnrollmentError);
    expect(error).toMatchObject({ name: 'EnrollmentError', errorType: 'CertificateKeyMismatch' });
    for (const file of ['device.cert.pem', 'ca.pem', 'device.json']) {
      expect(await exists(path.join(outDir, file))).toBe(false);
    }
  });

  it('refuses a certificate it cannot read', async () => {
    const { run } = await enroll([async (call, ca) => ({ ...(await grantFor(call, ca)), certificatePem: 'nonsense' })]);

    await expect(run()).rejects.toMatchObject({ errorType: 'InvalidCertificate' });
    expect(await exists(path.join(outDir, 'device.cert.pem'))).toBe(false);
  });

  it('stops before calling the service when the key file cannot be used', async () => {
    const { run, issuer } = await enroll();
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, 'device.key.pem'), ed25519, { mode: 0o600 });

    await expect(run()).rejects.toMatchObject({ name: 'EnrollmentError', errorType: 'UnsupportedKey' });
    expect(issuer.calls).toHaveLength(0);
  });

  it('never reports the token or the private key in its progress lines', async () => {
    const { run, progress } = await enroll([graphqlError('IssuanceInProgress')]);

    const result = await run();

    const keyBody = (await readFile(result.files.key, 'utf8')).split('\n')[1]!;
    expect(progress.length).toBeGreaterThan(2);
    for (const line of progress) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(keyBody);
    }
  });
});
