import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate, type CertificateGrant } from '../../../../resolvers/core/request-certificate.ts';
import type { SwapOutcome } from '../../../../resolvers/core/ports.ts';
import { CsrRejectedError, CvmError, ThrottledError } from '../../../../resolvers/core/errors.ts';
import { revokeCertificate, resetDevice } from '../../../../resolvers/core/revoke-and-reset.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr } from '../../../support/csr.ts';

let h: CoreHarness;
let counter = 0;

beforeAll(async () => {
  h = await startCoreHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(() => {
  h.authority.reset();
});

/** A freshly registered device with its token. */
async function newDevice(options: { attributes?: string } = {}): Promise<{ serial: string; token: string }> {
  counter += 1;
  const serial = `SN-${String(counter).padStart(5, '0')}`;
  const registration = await registerDevice(
    h.ctx,
    { serialNumber: serial, ...(options.attributes ? { attributes: options.attributes } : {}) },
    ADMIN,
  );
  return { serial, token: registration.registrationToken };
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

/** A well-formed token that is not the device's. */
function wrongToken(seed: number): string {
  return `${String(seed).padStart(3, '0')}${'W'.repeat(40)}`;
}

/**
 * Run `action` with the store's replace() going through `intercept`, which gets the write's number (the claim is
 * not one: 1: record the certificate, 2: finalize) and the real write to call, or not.
 */
async function withWrites<T>(
  intercept: (write: number, perform: () => Promise<SwapOutcome>) => Promise<SwapOutcome>,
  action: () => Promise<T>,
): Promise<T> {
  const store = h.table.store;
  const original = store.replace.bind(store);
  let writes = 0;
  store.replace = (record, expected) => intercept(++writes, () => original(record, expected));
  try {
    return await action();
  } finally {
    store.replace = original;
  }
}

/** Certificates the local CA holds for this thing, by status. */
async function certificatesOf(serial: string): Promise<{ id: string; status: string }[]> {
  const all = await h.localCa.registry.listCertificates();
  const ours: { id: string; status: string }[] = [];
  for (const certificate of all) {
    const subject = new x509.X509Certificate(certificate.pem).subjectName.getField('CN')[0];
    if (subject === serial) ours.push({ id: certificate.id, status: certificate.status });
  }
  return ours;
}

describe('requestCertificate', () => {
  it('issues a certificate for the device key, records it and makes the thing', async () => {
    const { serial, token } = await newDevice({ attributes: '{"model":"X1"}' });
    const csr = await makeCsr({ commonName: serial });

    const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });

    const certificate = new x509.X509Certificate(grant.certificatePem);
    expect(certificate.subjectName.getField('CN')).toEqual([serial]);
    const spki = Buffer.from(certificate.publicKey.rawData);
    expect(createHash('sha256').update(spki).digest('hex')).toBe(csr.publicKeyFingerprint);
    expect(grant.certificateId).toBe(createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex'));
    expect(grant).toMatchObject({ serialNumber: serial, thingName: serial, iotEndpoint: null });
    expect(grant.caCertificatePem).toContain('BEGIN CERTIFICATE');

    const record = await h.table.store.get(serial);
    expect(record).toMatchObject({ status: 'ACTIVE', certificateId: grant.certificateId, version: 4 });
    expect(record?.lease).toBeUndefined();
    expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
    const stored = await h.localCa.registry.getCertificate(grant.certificateId);
    expect(stored?.policies.length).toBe(1);
    const thing = await h.localCa.registry.getThing(serial);
    expect(thing?.attributes).toEqual({ model: 'X1' });
    expect(thing?.principals).toEqual([grant.certificateArn]);
  });

  it('returns the same certificate to a retry with the same token and key', async () => {
    const { serial, token } = await newDevice();
    const csr = await makeCsr({ commonName: serial });
    const first = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
    // The device lost the answer and sends a new CSR for the same key.
    const again = await makeCsr({ commonName: serial, keys: csr.keys });
    const second = await requestCertificate(h.ctx, {
      serialNumber: serial,
      registrationToken: token,
      csr: again.csrPem,
    });
    expect(second).toEqual(first);
    expect(await certificatesOf(serial)).toHaveLength(1);
  });

  it('refuses the used token with another key (AlreadyProvisioned)', async () => {
    const { serial, token } = await newDevice();
    await requestCertificate(h.ctx, {
      serialNumber: serial,
      registrationToken: token,
      csr: (await makeCsr({ commonName: serial })).csrPem,
    });
    const other = await makeCsr({ commonName: serial });
    expect(
      await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: other.csrPem })),
    ).toBe('AlreadyProvisioned');
    expect(await certificatesOf(serial)).toHaveLength(1);
  });

  describe('bad input changes nothing', () => {
    it.each([
      ['a serial outside the thing-name set', { serialNumber: 'SN 1' }, 'InvalidInput'],
      ['an empty serial', { serialNumber: '' }, 'InvalidInput'],
      ['a serial of 129 characters', { serialNumber: 'S'.repeat(129) }, 'InvalidInput'],
      ['an empty token', { registrationToken: '' }, 'InvalidInput'],
      ['a token with a trailing newline', { trailingNewline: true }, 'InvalidInput'],
      ['a token of the wrong length', { registrationToken: 'abc' }, 'InvalidInput'],
      ['a missing CSR', { csr: undefined }, 'InvalidInput'],
      ['a CSR that is not PEM', { csr: 'nonsense' }, 'InvalidCsr'],
      ['a CSR for another serial', { csrFor: 'SN-OTHER' }, 'CsrSubjectMismatch'],
    ])('%s → %s', async (_case, change, errorType) => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: 'csrFor' in change ? change.csrFor : serial });
      const input: Record<string, unknown> = {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
        ...change,
      };
      if ('trailingNewline' in change) input.registrationToken = `${token}\n`;
      const before = await h.table.store.get(serial);

      expect(await outcome(requestCertificate(h.ctx, input))).toBe(errorType);

      expect(await h.table.store.get(serial)).toEqual(before);
      expect(h.authority.calls).toEqual([]);
      // The token still works: nothing was consumed.
      await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: (await makeCsr({ commonName: serial })).csrPem,
      });
    });
  });

  describe('tokens', () => {
    it('answers InvalidRegistrationToken alike for an unknown serial and a wrong token', async () => {
      const { serial } = await newDevice();
      const wrong = 'A'.repeat(43);
      const unknown = await requestCertificate(h.ctx, {
        serialNumber: 'SN-NOBODY',
        registrationToken: wrong,
        csr: (await makeCsr({ commonName: 'SN-NOBODY' })).csrPem,
      }).catch((error: CvmError) => error);
      const mismatched = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: wrong,
        csr: (await makeCsr({ commonName: serial })).csrPem,
      }).catch((error: CvmError) => error);
      expect(unknown).toBeInstanceOf(CvmError);
      expect(mismatched).toBeInstanceOf(CvmError);
      expect((unknown as CvmError).errorType).toBe('InvalidRegistrationToken');
      expect((mismatched as CvmError).message).toBe((unknown as CvmError).message);
      expect(await h.table.store.get('SN-NOBODY')).toBeUndefined();
    });

    it('refuses an expired token', async () => {
      const { serial, token } = await newDevice();
      h.clock.advance(7 * 24 * 3600 * 1000 + 1);
      const csr = await makeCsr({ commonName: serial });
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('InvalidRegistrationToken');
      expect((await h.table.store.get(serial))?.status).toBe('PENDING');
    });

    it('locks the device after five wrong tokens, until an admin resets it', async () => {
      const { serial, token } = await newDevice();
      const csr = (await makeCsr({ commonName: serial })).csrPem;
      const answers: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        answers.push(
          await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken(i), csr })),
        );
      }
      expect(answers).toEqual([
        'InvalidRegistrationToken',
        'InvalidRegistrationToken',
        'InvalidRegistrationToken',
        'InvalidRegistrationToken',
        'InvalidRegistrationToken',
      ]);
      // The lock shows only to the right token: a guesser cannot tell a locked device from an unknown serial.
      expect(await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr }))).toBe(
        'TooManyAttempts',
      );
      const events = await h.table.store.listEvents(serial, 20);
      expect(events.items.map((event) => event.type)).toContain('LOCKED');

      const reset = await resetDevice(h.ctx, { serialNumber: serial }, ADMIN);
      expect(reset.device.locked).toBe(false);
      expect(
        await outcome(
          requestCertificate(h.ctx, { serialNumber: serial, registrationToken: reset.registrationToken, csr }),
        ),
      ).toBe('ok');
    });

    it('does not count a bad CSR sent with the right token as a wrong token', async () => {
      const { serial, token } = await newDevice();
      for (let i = 0; i < 6; i += 1) {
        expect(
          await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: 'bad' })),
        ).toBe('InvalidCsr');
      }
      expect((await h.table.store.get(serial))?.failedAttempts).toBe(0);
    });

    it('never logs the token or the CSR', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
      await outcome(
        requestCertificate(h.ctx, { serialNumber: serial, registrationToken: `${token}x`, csr: csr.csrPem }),
      );
      const logged = h.telemetry.text();
      expect(logged).not.toContain(token);
      expect(logged).not.toContain('BEGIN CERTIFICATE REQUEST');
      const events = JSON.stringify(await h.table.store.listEvents(serial, 50));
      expect(events).not.toContain(token);
    });
  });

  describe('exactly one certificate per device', () => {
    it('lets one of many concurrent requests win; the others are told to wait', async () => {
      const { serial, token } = await newDevice();
      const csrs = await Promise.all(Array.from({ length: 8 }, () => makeCsr({ commonName: serial })));
      const answers = await Promise.all(
        csrs.map((csr) =>
          outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
        ),
      );
      expect(answers.filter((answer) => answer === 'ok')).toHaveLength(1);
      for (const answer of answers.filter((a) => a !== 'ok'))
        expect(['IssuanceInProgress', 'AlreadyProvisioned']).toContain(answer);
      const certificates = await certificatesOf(serial);
      expect(certificates.filter((c) => c.status === 'ACTIVE')).toHaveLength(1);
      expect(certificates).toHaveLength(1);
    });

    it('answers IssuanceInProgress to a second request while the first is issuing', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('attachPolicy');
      const first = requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
      await gate.reached;
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('IssuanceInProgress');
      gate.release();
      await first;
      // Now the same key gets the same certificate.
      const again: CertificateGrant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      expect(again.certificateId).toBe((await first).certificateId);
    });
  });

  describe('a failure part-way leaves no active certificate and the device able to retry', () => {
    it.each([
      ['createCertificate'],
      ['ensureThing'],
      ['attachPolicy'],
      ['attachThingPrincipal'],
      ['setCertificateStatus'],
    ] as const)('when %s fails', async (method) => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      h.authority.failNext(method, new Error(`injected ${method} failure`));

      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('InternalError');

      const record = await h.table.store.get(serial);
      expect(record?.status).toBe('PENDING');
      expect(record?.certificateId).toBeUndefined();
      expect((await certificatesOf(serial)).filter((c) => c.status === 'ACTIVE')).toEqual([]);
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
      const events = await h.table.store.listEvents(serial, 10);
      expect(events.items.map((event) => event.type)).toContain('ISSUE_FAILED');
    });

    it('when the authority refuses the CSR, answers InvalidCsr and keeps nothing', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      h.authority.failNext('createCertificate', new CsrRejectedError('AWS IoT refused the CSR: bad'));
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('InvalidCsr');
      expect((await h.table.store.get(serial))?.status).toBe('PENDING');
      expect(await certificatesOf(serial)).toEqual([]);
    });

    it('when the final write fails, the certificate its ISSUED event names is revoked and kept', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const answer = await withWrites(
        (write, perform) => (write === 2 ? Promise.reject(new Error('injected write failure')) : perform()),
        () => outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      );
      expect(answer).toBe('InternalError');
      expect((await h.table.store.get(serial))?.status).toBe('PENDING');
      const [spent] = await certificatesOf(serial);
      expect(await certificatesOf(serial)).toEqual([{ id: spent?.id, status: 'REVOKED' }]);
      const events = (await h.table.store.listEvents(serial, 10)).items;
      expect(
        events.filter((event) => event.type === 'ISSUED').map((event) => event.details?.['certificateId']),
      ).toEqual([spent?.id]);
      await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
    });

    it('when the final write lands but its answer is lost, the issuance stands', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const grant = await withWrites(
        async (write, perform) => {
          const outcome = await perform();
          if (write === 2) throw new Error('connection reset after the write');
          return outcome;
        },
        () => requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }),
      );
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
    });

    it('recovers a crashed attempt once its lease has expired', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      // Simulate a crash after the certificate was recorded: the attempt never finishes.
      const gate = h.authority.pause('setCertificateStatus');
      void requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }).catch(
        () => undefined,
      );
      await gate.reached;
      const crashed = await h.table.store.get(serial);
      expect(crashed?.status).toBe('ISSUING');
      expect(crashed?.certificateId).toBeDefined();

      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('IssuanceInProgress');
      h.clock.advance(61_000);
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      expect(grant.certificateId).not.toBe(crashed?.certificateId);
      const certificates = await certificatesOf(serial);
      expect(certificates.filter((c) => c.status === 'ACTIVE')).toEqual([
        { id: grant.certificateId, status: 'ACTIVE' },
      ]);
      expect(certificates.find((c) => c.id === crashed?.certificateId)).toBeUndefined();
      gate.release();
    });
  });

  describe('throttling', () => {
    it('retries throttled calls and succeeds within the budget', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      h.authority.failNext('createCertificate', new ThrottledError('Rate exceeded'), 3);
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      expect(grant.certificateId).toMatch(/^[0-9a-f]{64}$/);
      expect(h.authority.calls.filter((call) => call === 'createCertificate')).toHaveLength(4);
    });

    /** A device whose first request was throttled past its budget after its certificate was recorded. */
    async function throttledAfterRecording(): Promise<{ serial: string; token: string; csr: string; spent: string }> {
      const { serial, token } = await newDevice();
      const csr = (await makeCsr({ commonName: serial })).csrPem;
      h.authority.failNext('attachThingPrincipal', new ThrottledError('Rate exceeded'), 1000);
      try {
        expect(await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr }))).toBe(
          'Throttled',
        );
      } finally {
        h.authority.reset();
      }
      const record = await h.table.store.get(serial);
      expect(record).toMatchObject({ status: 'ISSUING', lease: { suspended: true } });
      expect(await certificatesOf(serial)).toEqual([{ id: record?.certificateId, status: 'INACTIVE' }]);
      return { serial, token, csr, spent: record?.certificateId ?? '' };
    }

    it('answers Throttled after the budget, and the retry with the same key resumes: no second certificate', async () => {
      const { serial, token, csr, spent } = await throttledAfterRecording();
      const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr });
      expect(grant.certificateId).toBe(spent);
      expect(h.authority.calls.filter((call) => call === 'createCertificate')).toEqual([]);
      expect(await certificatesOf(serial)).toEqual([{ id: spent, status: 'ACTIVE' }]);
      const events = (await h.table.store.listEvents(serial, 10)).items;
      expect(
        events.filter((event) => event.type === 'ISSUED').map((event) => event.details?.['certificateId']),
      ).toEqual([spent]);
    });

    it('a suspended claim is not resumed with a wrong token, and not by another key while its lease lives', async () => {
      const { serial, token, spent } = await throttledAfterRecording();
      const otherKey = (await makeCsr({ commonName: serial })).csrPem;
      expect(
        await outcome(
          requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken(7), csr: otherKey }),
        ),
      ).toBe('InvalidRegistrationToken');
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: otherKey })),
      ).toBe('IssuanceInProgress');
      expect((await h.table.store.get(serial))?.certificateId).toBe(spent);
    });

    it('another key takes over a suspended claim once its lease expires, and cleans up as for any abandoned one', async () => {
      const { serial, token, csr, spent } = await throttledAfterRecording();
      h.clock.advance(61_000);
      const otherKey = (await makeCsr({ commonName: serial })).csrPem;
      const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: otherKey });
      expect(grant.certificateId).not.toBe(spent);
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
      // The first key's retry now finds the device enrolled with another key.
      expect(await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr }))).toBe(
        'AlreadyProvisioned',
      );
    });

    it('the same key after the lease expired takes over and starts again, as for any abandoned claim', async () => {
      const { serial, token, csr, spent } = await throttledAfterRecording();
      h.clock.advance(61_000);
      const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr });
      expect(grant.certificateId).not.toBe(spent);
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
    });
  });

  describe('admin actions racing an enrollment', () => {
    it('a revoke during issuance wins: the device ends REVOKED with no active certificate', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('setCertificateStatus');
      const enrolling = outcome(
        requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }),
      );
      await gate.reached;
      await revokeCertificate(h.ctx, { serialNumber: serial, reason: 'stolen' }, ADMIN);
      gate.release();
      expect(await enrolling).toBe('InvalidRegistrationToken');
      const record = await h.table.store.get(serial);
      expect(record?.status).toBe('REVOKED');
      // The certificate the revoke caught is kept, revoked, as evidence; nothing is active.
      expect(await certificatesOf(serial)).toEqual([{ id: record?.certificateId, status: 'REVOKED' }]);
    });

    it('a reset during issuance wins: the old token is dead and the new one enrolls', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('setCertificateStatus');
      const enrolling = outcome(
        requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }),
      );
      await gate.reached;
      const reset = await resetDevice(h.ctx, { serialNumber: serial }, ADMIN);
      gate.release();
      expect(await enrolling).toBe('InvalidRegistrationToken');
      expect((await certificatesOf(serial)).filter((c) => c.status === 'ACTIVE')).toEqual([]);
      // The REVOKED event names the certificate the reset caught, and that certificate is still there, revoked.
      const events = await h.table.store.listEvents(serial, 20);
      const named = events.items.find((event) => event.type === 'REVOKED')?.details?.['certificateId'];
      expect(named).toEqual(expect.any(String));
      expect(await certificatesOf(serial)).toContainEqual({ id: named, status: 'REVOKED' });
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('InvalidRegistrationToken');
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: reset.registrationToken,
        csr: (await makeCsr({ commonName: serial })).csrPem,
      });
      expect((await certificatesOf(serial)).filter((c) => c.status === 'ACTIVE')).toEqual([
        { id: grant.certificateId, status: 'ACTIVE' },
      ]);
    });
  });

  describe('wrong tokens cannot disturb others', () => {
    it('a malformed token, however often, neither counts nor locks', async () => {
      const { serial, token } = await newDevice();
      const csr = (await makeCsr({ commonName: serial })).csrPem;
      for (let i = 0; i < 6; i += 1) {
        expect(
          await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: `${token} `, csr })),
        ).toBe('InvalidInput');
      }
      expect(await h.table.store.get(serial)).toMatchObject({ failedAttempts: 0, locked: false });
    });

    it('a wrong token during an issuance does not abort it', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('attachPolicy');
      const enrolling = requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
      await gate.reached;
      expect(
        await outcome(
          requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken(1), csr: csr.csrPem }),
        ),
      ).toBe('InvalidRegistrationToken');
      gate.release();
      const grant = await enrolling;
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
    });

    it('wrong tokens do not lock an enrolled device out of its own retry', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      for (let i = 0; i < 6; i += 1) {
        expect(
          await outcome(
            requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken(i), csr: csr.csrPem }),
          ),
        ).toBe('InvalidRegistrationToken');
      }
      const again = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      expect(again.certificateId).toBe(grant.certificateId);
      // Counted on the device; the audit trail gets one TOKEN_FAILED an hour, with the count.
      const events = await h.table.store.listEvents(serial, 20);
      expect(events.items.filter((event) => event.type === 'TOKEN_FAILED')).toHaveLength(1);
      expect((await h.table.store.get(serial))?.unreportedWrongTokens).toBe(5);
      h.clock.advance(3_600_000);
      expect(
        await outcome(
          requestCertificate(h.ctx, { serialNumber: serial, registrationToken: wrongToken(9), csr: csr.csrPem }),
        ),
      ).toBe('InvalidRegistrationToken');
      const later = await h.table.store.listEvents(serial, 20);
      const failed = later.items.filter((event) => event.type === 'TOKEN_FAILED');
      expect(failed.map((event) => event.details?.['count'])).toEqual([6, 1]);
    });
  });

  describe('stale requests and lost answers', () => {
    it('a request whose lease expired cannot finish after another took over', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('setCertificateStatus');
      const stale = outcome(
        requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }),
      );
      await gate.reached;
      const staleCertificate = (await h.table.store.get(serial))?.certificateId;
      h.clock.advance(61_000);
      const grant = await requestCertificate(h.ctx, {
        serialNumber: serial,
        registrationToken: token,
        csr: csr.csrPem,
      });
      gate.release();
      expect(await stale).not.toBe('ok');
      const certificates = await certificatesOf(serial);
      expect(certificates.filter((c) => c.status === 'ACTIVE')).toEqual([
        { id: grant.certificateId, status: 'ACTIVE' },
      ]);
      expect(certificates.find((c) => c.id === staleCertificate)).toBeUndefined();
      expect((await h.table.store.get(serial))?.certificateId).toBe(grant.certificateId);
    });

    it('cleans up a crashed attempt even when the token has expired meanwhile', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const gate = h.authority.pause('setCertificateStatus');
      void requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }).catch(
        () => undefined,
      );
      await gate.reached;
      const crashed = (await h.table.store.get(serial))?.certificateId;
      h.clock.advance(8 * 24 * 3600 * 1000);
      expect(
        await outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      ).toBe('InvalidRegistrationToken');
      const record = await h.table.store.get(serial);
      expect(record?.status).toBe('PENDING');
      expect(record?.certificateId).toBeUndefined();
      expect((await certificatesOf(serial)).find((c) => c.id === crashed)).toBeUndefined();
      gate.release();
    });

    it('keeps an issuance whose final write landed even when reading it back fails once', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const store = h.table.store;
      const originalGet = store.get.bind(store);
      let failReads = 0;
      store.get = async (serialNumber) => {
        if (failReads > 0) {
          failReads -= 1;
          throw new Error('connection reset on read');
        }
        return originalGet(serialNumber);
      };
      let grant: CertificateGrant;
      try {
        grant = await withWrites(
          async (write, perform) => {
            const outcome = await perform();
            if (write === 2) {
              failReads = 1;
              throw new Error('connection reset after the write');
            }
            return outcome;
          },
          () => requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem }),
        );
      } finally {
        store.get = originalGet;
      }
      expect(await certificatesOf(serial)).toEqual([{ id: grant.certificateId, status: 'ACTIVE' }]);
      expect((await h.table.store.get(serial))?.status).toBe('ACTIVE');
    });

    it('answers Throttled when DynamoDB throttles a write, and the device can retry', async () => {
      const { serial, token } = await newDevice();
      const csr = await makeCsr({ commonName: serial });
      const answer = await withWrites(
        (write, perform) =>
          write === 1 ? Promise.reject(new ThrottledError('ProvisionedThroughputExceededException')) : perform(),
        () => outcome(requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem })),
      );
      expect(answer).toBe('Throttled');
      expect((await certificatesOf(serial)).filter((c) => c.status === 'ACTIVE')).toEqual([]);
      await requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
    });
  });
});
