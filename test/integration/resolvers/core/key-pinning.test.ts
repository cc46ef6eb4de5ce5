/**
 * Key pinning (#11 item 1) through the use cases, on dynalite and the local CA: a device registered with its
 * public key enrolls only with a CSR for that key; another key, sent with the right token, is `KeyMismatch` and
 * changes nothing (no claim, no certificate, no count towards the lock); a reset keeps the pin unless replaced.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createPublicKey, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { registerDevice, registerDevices } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { resetDevice } from '../../../../resolvers/core/revoke-and-reset.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr, type CsrKeyType, type MadeCsr } from '../../../support/csr.ts';

let h: CoreHarness;
let work: string;
let counter = 0;

beforeAll(async () => {
  h = await startCoreHarness();
  work = await mkdtemp(path.join(tmpdir(), 'cvm-pinning-'));
});
afterAll(async () => {
  await h.close();
  await rm(work, { recursive: true, force: true });
});
afterEach(() => {
  h.authority.reset();
  h.faults.reset();
});

function nextSerial(): string {
  counter += 1;
  return `PIN-${String(counter).padStart(4, '0')}`;
}

/** A device key and a CSR for `serial`, and the public key as PEM (what the factory reads from the element). */
async function deviceKey(serial: string, keyType: CsrKeyType = 'ec-p256'): Promise<MadeCsr & { publicKey: string }> {
  const made = await makeCsr({ commonName: serial, keyType });
  return { ...made, publicKey: await publicKeyPem(made.keys) };
}

async function publicKeyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof CvmError) return error.errorType;
    throw error;
  }
}

/** Everything a request could have changed: the device item, its audit trail, the authority's certificates. */
async function snapshot(serial: string) {
  const record = await h.table.store.get(serial);
  const events = await h.table.store.listEvents(serial, 50);
  const certificates = (await h.localCa.registry.listCertificates()).length;
  return { record, events: events.items, certificates };
}

/** Steps a request took other than reads: writes to the store and calls to the authority. */
function changesTried(): string[] {
  return h.faults.trace.filter((step) => !/^store\.(get|getMany|listEvents|listByStatus)#/.test(step));
}

describe('registerDevice with publicKey', () => {
  it('stores the SHA-256 of the key (the fingerprint a CSR for it has) and shows it as publicKeyPin', async () => {
    const serial = nextSerial();
    const key = await deviceKey(serial);
    const registration = await registerDevice(h.ctx, { serialNumber: serial, publicKey: key.publicKey }, ADMIN);
    expect(registration.device.publicKeyPin).toBe(key.publicKeyFingerprint);
    expect((await h.table.store.get(serial))?.publicKeyPin).toBe(key.publicKeyFingerprint);
    const events = await h.table.store.listEvents(serial, 5);
    expect(events.items[0]?.details).toMatchObject({ publicKeyPin: key.publicKeyFingerprint });
  });

  it('shows publicKeyPin null for a device registered without a key', async () => {
    const registration = await registerDevice(h.ctx, { serialNumber: nextSerial() }, ADMIN);
    expect(registration.device.publicKeyPin).toBeNull();
  });

  it('refuses a key a CSR could not have (RSA 1024) as InvalidInput, and writes nothing', async () => {
    const serial = nextSerial();
    const weak = await deviceKey(serial, 'rsa-1024');
    h.faults.reset();
    await expect(registerDevice(h.ctx, { serialNumber: serial, publicKey: weak.publicKey }, ADMIN)).rejects.toThrow(
      expect.objectContaining({ errorType: 'InvalidInput', message: expect.stringMatching(/RSA 1024/) as unknown }),
    );
    expect(h.faults.trace).toEqual([]);
    expect(await h.table.store.get(serial)).toBeUndefined();
    // The serial and its thing name are still free.
    expect((await registerDevice(h.ctx, { serialNumber: serial }, ADMIN)).device.serialNumber).toBe(serial);
  });

  it('refuses a batch with one bad key whole, naming the input, and writes nothing', async () => {
    const good = nextSerial();
    const bad = nextSerial();
    const key = await deviceKey(good);
    const error = await registerDevices(
      h.ctx,
      [
        { serialNumber: good, publicKey: key.publicKey },
        { serialNumber: bad, publicKey: 'not a key' },
      ],
      ADMIN,
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      errorType: 'InvalidInput',
      message: expect.stringMatching(/\(input 1\)/) as unknown,
    });
    expect(await h.table.store.getMany([good, bad])).toEqual([]);
  });
});

describe('requestCertificate for a device with a pinned key', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as const)('enrolls with a CSR for the pinned %s key', async (keyType) => {
    const serial = nextSerial();
    const key = await deviceKey(serial, keyType);
    const { registrationToken } = await registerDevice(
      h.ctx,
      { serialNumber: serial, publicKey: key.publicKey },
      ADMIN,
    );
    const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: key.csrPem });
    expect(grant.serialNumber).toBe(serial);
    expect(await h.table.store.get(serial)).toMatchObject({
      status: 'ACTIVE',
      publicKeyPin: key.publicKeyFingerprint,
      publicKeyFingerprint: key.publicKeyFingerprint,
    });
  });

  it('answers KeyMismatch for another key and changes nothing: no claim, no certificate, no count', async () => {
    const serial = nextSerial();
    const pinned = await deviceKey(serial);
    const { registrationToken } = await registerDevice(
      h.ctx,
      { serialNumber: serial, publicKey: pinned.publicKey },
      ADMIN,
    );
    const before = await snapshot(serial);

    // More tries than the lock allows: a wrong key is not a guessed token.
    for (let attempt = 0; attempt <= h.ctx.settings.maxFailedAttempts; attempt += 1) {
      const clone = await makeCsr({ commonName: serial });
      h.faults.reset();
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: clone.csrPem })),
      ).toBe('KeyMismatch');
      // The one write tried is the conditional claim, which the pin refuses (it writes nothing; the read then
      // explains the refusal): no other write, no authority call.
      expect(changesTried()).toEqual(['store.claim#1']);
    }
    expect(await snapshot(serial)).toEqual(before);
    expect(before.record).toMatchObject({ status: 'PENDING', failedAttempts: 0, locked: false });

    // The device with the pinned key still enrolls with the same token.
    const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: pinned.csrPem });
    expect((await h.table.store.get(serial))?.certificateId).toBe(grant.certificateId);
  });

  it('answers a wrong token with another key InvalidRegistrationToken, counted as any wrong token', async () => {
    const serial = nextSerial();
    const pinned = await deviceKey(serial);
    await registerDevice(h.ctx, { serialNumber: serial, publicKey: pinned.publicKey }, ADMIN);
    const clone = await makeCsr({ commonName: serial });
    const wrongToken = 'W'.repeat(43);
    expect(
      await outcome(
        requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken, csr: clone.csrPem }),
      ),
    ).toBe('InvalidRegistrationToken');
    expect((await h.table.store.get(serial))?.failedAttempts).toBe(1);
  });

  it('answers KeyMismatch to an enrolled device asked with another key, and keeps its certificate', async () => {
    const serial = nextSerial();
    const pinned = await deviceKey(serial);
    const { registrationToken } = await registerDevice(
      h.ctx,
      { serialNumber: serial, publicKey: pinned.publicKey },
      ADMIN,
    );
    await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: pinned.csrPem });
    const before = await snapshot(serial);
    const clone = await makeCsr({ commonName: serial });
    expect(
      await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: clone.csrPem })),
    ).toBe('KeyMismatch');
    expect(await snapshot(serial)).toEqual(before);
  });

  it('takes any accepted key when no key is pinned, as before', async () => {
    const serial = nextSerial();
    const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const any = await makeCsr({ commonName: serial, keyType: 'ec-p521' });
    await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: any.csrPem });
    expect(await h.table.store.get(serial)).toMatchObject({
      status: 'ACTIVE',
      publicKeyFingerprint: any.publicKeyFingerprint,
    });
    expect((await h.table.store.get(serial))?.publicKeyPin).toBeUndefined();
  });
});

describe('resetDevice and the pin', () => {
  async function enrolledPinnedDevice() {
    const serial = nextSerial();
    const pinned = await deviceKey(serial);
    const { registrationToken } = await registerDevice(
      h.ctx,
      { serialNumber: serial, publicKey: pinned.publicKey },
      ADMIN,
    );
    await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: pinned.csrPem });
    return { serial, pinned };
  }

  it('keeps the pin: the same key enrolls again, another key is KeyMismatch', async () => {
    const { serial, pinned } = await enrolledPinnedDevice();
    const reset = await resetDevice(h.ctx, { serialNumber: serial }, ADMIN);
    expect(reset.device.publicKeyPin).toBe(pinned.publicKeyFingerprint);
    const token = reset.registrationToken;
    const clone = await makeCsr({ commonName: serial });
    expect(
      await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: clone.csrPem })),
    ).toBe('KeyMismatch');
    await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: pinned.csrPem });
    expect((await h.table.store.get(serial))?.status).toBe('ACTIVE');
  });

  it('replaces the pin when given a new key: only the new key enrolls', async () => {
    const { serial, pinned } = await enrolledPinnedDevice();
    const replacement = await deviceKey(serial, 'ec-p384');
    const reset = await resetDevice(h.ctx, { serialNumber: serial, publicKey: replacement.publicKey }, ADMIN);
    expect(reset.device.publicKeyPin).toBe(replacement.publicKeyFingerprint);
    const events = await h.table.store.listEvents(serial, 5);
    expect(events.items.find((event) => event.type === 'RESET')?.details).toMatchObject({
      publicKeyPin: replacement.publicKeyFingerprint,
    });
    const token = reset.registrationToken;
    expect(
      await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: pinned.csrPem })),
    ).toBe('KeyMismatch');
    await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: replacement.csrPem });
    expect((await h.table.store.get(serial))?.publicKeyFingerprint).toBe(replacement.publicKeyFingerprint);
  });

  it('pins a key on a device registered without one', async () => {
    const serial = nextSerial();
    await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const key = await deviceKey(serial);
    const reset = await resetDevice(h.ctx, { serialNumber: serial, publicKey: key.publicKey }, ADMIN);
    expect(reset.device.publicKeyPin).toBe(key.publicKeyFingerprint);
  });

  it('refuses a bad new key as InvalidInput before anything changes: the device stays ACTIVE', async () => {
    const { serial } = await enrolledPinnedDevice();
    const before = await snapshot(serial);
    const weak = await deviceKey(serial, 'rsa-1024');
    expect(await outcome(resetDevice(h.ctx, { serialNumber: serial, publicKey: weak.publicKey }, ADMIN))).toBe(
      'InvalidInput',
    );
    expect(await snapshot(serial)).toEqual(before);
  });
});

describe('the factory flow, with a key openssl made', () => {
  it('registers the public key `openssl pkey -pubout` printed; only a CSR of that key enrolls', async () => {
    const serial = nextSerial();
    const keyFile = path.join(work, `${serial}.key`);
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    const publicKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
    const csr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${serial}`], {
      encoding: 'utf8',
    });
    const { registrationToken, device } = await registerDevice(h.ctx, { serialNumber: serial, publicKey }, ADMIN);

    const spkiDer = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-outform', 'DER']);
    const sha256 = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: spkiDer, encoding: 'utf8' });
    expect(device.publicKeyPin).toBe(sha256.split(' ')[0]);

    const clone = await makeCsr({ commonName: serial });
    expect(
      await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: clone.csrPem })),
    ).toBe('KeyMismatch');
    const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr });
    const certifiedKey = execFileSync('openssl', ['x509', '-noout', '-pubkey'], {
      input: grant.certificatePem,
      encoding: 'utf8',
    });
    expect(certifiedKey).toBe(publicKey);
  });
});
