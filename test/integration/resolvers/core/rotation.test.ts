/**
 * Certificate rotation (issue #11): renew with a proof by the current key, both certificates work, confirm with a
 * proof by the new key (the old one is revoked), or the deadline rolls the new one back. Every refusal changes
 * nothing; the races end with exactly one active certificate; a replayed renewal can do nothing new.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../../../resolvers/core/reconcile.ts';
import { pinPublicKey } from '../../../../resolvers/core/pin-public-key.ts';
import { listDevices } from '../../../../resolvers/core/query-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { resetDevice, revokeCertificate } from '../../../../resolvers/core/revoke-and-reset.ts';
import { confirmCertificate } from '../../../../resolvers/core/rotation/confirm-certificate.ts';
import { renewCertificate } from '../../../../resolvers/core/rotation/renew-certificate.ts';
import { sweepRotations } from '../../../../resolvers/core/rotation/sweep.ts';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr } from '../../../support/csr.ts';
import {
  certificatesOf,
  confirm,
  confirmationFor,
  enrolledRotatingDevice,
  pemBody,
  proofBy,
  renew,
  renewalFor,
  rotationInvariantsHold,
  type RotatingDevice,
} from '../../../support/rotation.ts';

const WINDOW_SECONDS = 3600;
let h: CoreHarness;
let counter = 0;

beforeAll(async () => {
  h = await startCoreHarness({ rotationWindowSeconds: WINDOW_SECONDS });
});

afterAll(async () => {
  await h.close();
});

async function device(): Promise<RotatingDevice> {
  counter += 1;
  return enrolledRotatingDevice(h, `ROT-${String(counter).padStart(4, '0')}`);
}

async function errorTypeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { errorType?: string }).errorType ?? String(error);
  }
  return 'no error';
}

async function statusOf(certificateId: string) {
  return (await h.localCa.registry.getCertificate(certificateId))?.status;
}

async function eventsOf(serial: string) {
  return (await h.table.store.listEvents(serial, 100)).items;
}

describe('renewCertificate', () => {
  it('issues a second certificate pending confirmation: both work, the device keeps its current one', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);

    expect(grant.certificateId).not.toBe(d.certificateId);
    expect(grant.confirmBy).toBe(new Date(h.clock.now().getTime() + WINDOW_SECONDS * 1000).toISOString());
    expect(await statusOf(grant.certificateId)).toBe('ACTIVE');
    expect(await statusOf(d.certificateId)).toBe('ACTIVE');
    const issued = await h.localCa.registry.getCertificate(grant.certificateId);
    expect(issued).toMatchObject({ policies: [expect.any(String)], things: [d.serial] });
    const record = await h.table.store.get(d.serial);
    expect(record).toMatchObject({ status: 'ACTIVE', certificateId: d.certificateId });
    const [view] = (await listDevices(h.ctx, { rotationPending: true })).items.filter(
      (v) => v.serialNumber === d.serial,
    );
    expect(view).toMatchObject({ pendingCertificateId: grant.certificateId, confirmBy: grant.confirmBy });
    const requested = (await eventsOf(d.serial)).filter((event) => event.type === 'RENEWAL_REQUESTED');
    expect(requested.map((event) => event.details)).toEqual([
      {
        certificateId: grant.certificateId,
        currentCertificateId: d.certificateId,
        confirmBy: grant.confirmBy,
        key: 'EC P-256',
      },
    ]);
    await rotationInvariantsHold(h, d.serial);
  });

  it('answers the same request repeated (or replayed) with the same pending certificate and one event', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const request = await renewalFor(d, next);
    const first = await renewCertificate(h.ctx, request);
    const again = await renewCertificate(h.ctx, request);
    expect(again).toEqual(first);
    expect(await certificatesOf(h, d.serial)).toHaveLength(2);
    expect((await eventsOf(d.serial)).filter((event) => event.type === 'RENEWAL_REQUESTED')).toHaveLength(1);
  });

  it('replaces a pending certificate when the device asks for another key: the earlier one is revoked', async () => {
    const d = await device();
    const lost = await renew(h, d, await makeCsr({ commonName: d.serial }));
    const next = await makeCsr({ commonName: d.serial, keyType: 'rsa-2048' });
    const grant = await renew(h, d, next);
    expect(grant.certificateId).not.toBe(lost.certificateId);
    const rolledBack = (await eventsOf(d.serial)).filter((event) => event.type === 'ROTATION_ROLLED_BACK');
    expect(rolledBack.map((event) => event.details)).toEqual([
      { certificateId: lost.certificateId, keptCertificateId: d.certificateId, cause: 'replaced' },
    ]);
    expect(await h.localCa.registry.getCertificate(lost.certificateId)).toMatchObject({
      status: 'REVOKED',
      policies: [],
      things: [],
    });
    await rotationInvariantsHold(h, d.serial);
    await confirm(h, d, grant, next);
    await rotationInvariantsHold(h, d.serial);
  });

  it('refuses the replay of a renewal a later one superseded: it cannot knock out the newer pending certificate', async () => {
    const d = await device();
    const first = await makeCsr({ commonName: d.serial });
    const captured = await renewalFor(d, first);
    await renewCertificate(h.ctx, captured);
    const second = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, second);
    const before = await h.table.store.get(d.serial);

    expect(await errorTypeOf(renewCertificate(h.ctx, captured))).toBe('InvalidProof');

    expect(await h.table.store.get(d.serial)).toEqual(before);
    expect(await statusOf(grant.certificateId)).toBe('ACTIVE');
    await confirm(h, d, grant, second);
    await rotationInvariantsHold(h, d.serial);
  });

  it('answers InvalidProof for every failure to prove, and changes nothing', async () => {
    const d = await device();
    const pending = await enrolledRotatingDevice(h, `ROT-P-${counter}`);
    const next = await makeCsr({ commonName: d.serial });
    const good = await renewalFor(d, next);
    const other = await makeCsr({ commonName: d.serial });
    const { registrationToken: _unused } = await registerDevice(h.ctx, { serialNumber: `ROT-NEW-${counter}` }, ADMIN);
    const unenrolledCsr = await makeCsr({ commonName: `ROT-NEW-${counter}` });
    const refusals = {
      'unknown serial': {
        ...good,
        serialNumber: `ROT-NONE-${counter}`,
        csr: (await makeCsr({ commonName: `ROT-NONE-${counter}` })).csrPem,
      },
      'a PENDING device': { ...good, serialNumber: `ROT-NEW-${counter}`, csr: unenrolledCsr.csrPem },
      "another device's certificate": { ...good, certificateId: pending.certificateId },
      'signed by another key': { ...good, signature: await proofBy(other.keys.privateKey, pemBody(next.csrPem)) },
      'signed over other bytes': { ...good, signature: await proofBy(d.keys.privateKey, pemBody(other.csrPem)) },
      'by the new key itself': { ...good, signature: await proofBy(next.keys.privateKey, pemBody(next.csrPem)) },
      'not base64': { ...good, signature: '!!!not base64!!!' },
    };
    const before = await h.table.store.get(d.serial);
    const certificatesBefore = (await h.localCa.registry.listCertificates()).length;
    for (const [what, input] of Object.entries(refusals)) {
      expect(await errorTypeOf(renewCertificate(h.ctx, input)), what).toBe('InvalidProof');
    }
    expect(await h.table.store.get(d.serial)).toEqual(before);
    expect((await h.localCa.registry.listCertificates()).length).toBe(certificatesBefore);
    // A renewal with the pending certificate's id is not one with the current certificate.
    const grant = await renewCertificate(h.ctx, good);
    const fromPending = { ...(await renewalFor(d, other)), certificateId: grant.certificateId };
    expect(await errorTypeOf(renewCertificate(h.ctx, fromPending))).toBe('InvalidProof');
  });

  it('refuses malformed input as InvalidInput and a bad CSR as InvalidCsr / CsrSubjectMismatch, changing nothing', async () => {
    const d = await device();
    const good = await renewalFor(d, await makeCsr({ commonName: d.serial }));
    const before = await h.table.store.get(d.serial);
    expect(await errorTypeOf(renewCertificate(h.ctx, { ...good, certificateId: 'xyz' }))).toBe('InvalidInput');
    expect(await errorTypeOf(renewCertificate(h.ctx, { ...good, signature: '' }))).toBe('InvalidInput');
    expect(await errorTypeOf(renewCertificate(h.ctx, { ...good, csr: 'not a csr' }))).toBe('InvalidCsr');
    const wrongCn = await renewalFor(d, await makeCsr({ commonName: `${d.serial}-X` }));
    expect(await errorTypeOf(renewCertificate(h.ctx, wrongCn))).toBe('CsrSubjectMismatch');
    expect(await h.table.store.get(d.serial)).toEqual(before);
  });

  it('keeps to a pinned key: another key is KeyMismatch; the admin pins the new key and the renewal goes through', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const pinnedElsewhere = await makeCsr({ commonName: d.serial });
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', pinnedElsewhere.keys.publicKey)).toString('base64');
    const pem = (body: string) =>
      `-----BEGIN PUBLIC KEY-----\n${body.match(/.{1,64}/g)?.join('\n')}\n-----END PUBLIC KEY-----\n`;
    await pinPublicKey(h.ctx, { serialNumber: d.serial, publicKey: pem(spki) }, ADMIN);
    expect(await errorTypeOf(renew(h, d, next))).toBe('KeyMismatch');
    expect(await certificatesOf(h, d.serial)).toHaveLength(1);
    const nextSpki = Buffer.from(await crypto.subtle.exportKey('spki', next.keys.publicKey)).toString('base64');
    const pinned = await pinPublicKey(h.ctx, { serialNumber: d.serial, publicKey: pem(nextSpki) }, ADMIN);
    expect(pinned.publicKeyPin).toBe(next.publicKeyFingerprint);
    const grant = await renew(h, d, next);
    await confirm(h, d, grant, next);
    await rotationInvariantsHold(h, d.serial);
    expect((await eventsOf(d.serial)).filter((event) => event.type === 'KEY_PINNED')).toHaveLength(2);
  });
});

describe('confirmCertificate', () => {
  it("commits: the new certificate is the device's, the old one revoked and detached, ROTATED names both", async () => {
    const d = await device();
    const old = d.certificateId;
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    const view = await confirm(h, d, grant, next);
    expect(view).toMatchObject({ status: 'ACTIVE', certificateId: grant.certificateId, pendingCertificateId: null });
    expect(await h.localCa.registry.getCertificate(old)).toMatchObject({ status: 'REVOKED', policies: [], things: [] });
    expect(await statusOf(grant.certificateId)).toBe('ACTIVE');
    const rotated = (await eventsOf(d.serial)).filter((event) => event.type === 'ROTATED');
    expect(rotated.map((event) => event.details)).toEqual([
      { certificateId: grant.certificateId, previousCertificateId: old },
    ]);
    await rotationInvariantsHold(h, d.serial);
    // Repeating it is harmless, and a replayed renewal (proved with the old key) can do nothing now.
    const request = await confirmationFor(d, grant, next);
    expect(await confirmCertificate(h.ctx, request)).toMatchObject({ certificateId: grant.certificateId });
    expect((await eventsOf(d.serial)).filter((event) => event.type === 'ROTATED')).toHaveLength(1);
    const replay = await renewalFor({ ...d, certificateId: old }, next);
    expect(await errorTypeOf(renewCertificate(h.ctx, replay))).toBe('InvalidProof');
    await rotationInvariantsHold(h, d.serial);
  });

  it('answers InvalidProof to a confirmation not made with the new key, and changes nothing', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    const good = await confirmationFor(d, grant, next);
    const before = await h.table.store.get(d.serial);
    const byOldKey = { ...good, signature: await proofBy(d.keys.privateKey, pemBody(grant.certificatePem)) };
    expect(await errorTypeOf(confirmCertificate(h.ctx, byOldKey))).toBe('InvalidProof');
    expect(
      await errorTypeOf(confirmCertificate(h.ctx, { ...good, certificateId: d.certificateId.replace(/^./, 'f') })),
    ).toBe('InvalidProof');
    expect(await errorTypeOf(confirmCertificate(h.ctx, { ...good, serialNumber: `${d.serial}-NONE` }))).toBe(
      'InvalidProof',
    );
    expect(await h.table.store.get(d.serial)).toEqual(before);
  });
});

describe('rollback', () => {
  it('revokes a pending certificate not confirmed by its deadline (the sweep); the old one never stopped working', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    h.clock.advance(WINDOW_SECONDS * 1000 - 1000);
    expect(await sweepRotations(h.ctx, false, ADMIN)).toBe(0);
    h.clock.advance(1000);
    const report = await reconcile(h.ctx, {}, ADMIN);
    expect(report.rotationsSettled).toBeGreaterThanOrEqual(1);
    expect(await h.localCa.registry.getCertificate(grant.certificateId)).toMatchObject({
      status: 'REVOKED',
      policies: [],
      things: [],
    });
    expect(await statusOf(d.certificateId)).toBe('ACTIVE');
    const record = await h.table.store.get(d.serial);
    expect(record?.rotation).toBeUndefined();
    expect(record?.certificateId).toBe(d.certificateId);
    const rolledBack = (await eventsOf(d.serial)).filter((event) => event.type === 'ROTATION_ROLLED_BACK');
    expect(rolledBack.map((event) => event.details)).toEqual([
      { certificateId: grant.certificateId, keptCertificateId: d.certificateId, cause: 'deadline' },
    ]);
    await rotationInvariantsHold(h, d.serial);
    // Too late to confirm; the device can renew again.
    expect(await errorTypeOf(confirm(h, d, grant, next))).toBe('InvalidProof');
    const again = await renew(h, d, next);
    await confirm(h, d, again, next);
    await rotationInvariantsHold(h, d.serial);
  });

  it('happens at the next call that touches the device, before the sweep', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    h.clock.advance(WINDOW_SECONDS * 1000);
    expect(await errorTypeOf(confirm(h, d, grant, next))).toBe('InvalidProof');
    expect(await statusOf(grant.certificateId)).toBe('REVOKED');
    await rotationInvariantsHold(h, d.serial);
  });
});

describe('rollback at an enrollment retry', () => {
  it('settles a rotation past its deadline when the device retries its enrollment, and answers the same grant', async () => {
    counter += 1;
    const serial = `ROT-E-${counter}`;
    const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const first = await makeCsr({ commonName: serial });
    const enrolled = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: first.csrPem });
    const d: RotatingDevice = { serial, keys: first.keys, certificateId: enrolled.certificateId };
    const grant = await renew(h, d, await makeCsr({ commonName: serial }));
    h.clock.advance(WINDOW_SECONDS * 1000);

    const again = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: first.csrPem });

    expect(again.certificateId).toBe(enrolled.certificateId);
    expect(await statusOf(grant.certificateId)).toBe('REVOKED');
    await rotationInvariantsHold(h, serial);
  });
});

describe('revoke and reset during a rotation', () => {
  it('revokes both certificates; a reset lets the device enroll again with a new key', async () => {
    const d = await device();
    const grant = await renew(h, d, await makeCsr({ commonName: d.serial }));
    const revoked = await revokeCertificate(h.ctx, { serialNumber: d.serial }, ADMIN);
    expect(revoked).toMatchObject({ status: 'REVOKED', pendingCertificateId: null });
    for (const id of [d.certificateId, grant.certificateId]) {
      expect(await h.localCa.registry.getCertificate(id)).toMatchObject({
        status: 'REVOKED',
        policies: [],
        things: [],
      });
    }
    const [event] = (await eventsOf(d.serial)).filter((e) => e.type === 'REVOKED');
    expect(event?.details).toMatchObject({ certificateId: d.certificateId, pendingCertificateId: grant.certificateId });
    const { registrationToken } = await resetDevice(h.ctx, { serialNumber: d.serial }, ADMIN);
    const csr = await makeCsr({ commonName: d.serial });
    await requestCertificate(h.ctx, { serialNumber: d.serial, registrationToken, csr: csr.csrPem });
    await rotationInvariantsHold(h, d.serial);
  });
});

describe('races', () => {
  async function settle(d: RotatingDevice) {
    h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);
    await reconcile(h.ctx, {}, ADMIN);
    await rotationInvariantsHold(h, d.serial);
  }

  it('two renewals at once for the same key: one certificate, the same answer or IssuanceInProgress', async () => {
    const d = await device();
    const request = await renewalFor(d, await makeCsr({ commonName: d.serial }));
    const answers = await Promise.allSettled([renewCertificate(h.ctx, request), renewCertificate(h.ctx, request)]);
    const granted = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.certificateId] : []));
    expect(granted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(granted).size).toBe(1);
    for (const answer of answers) {
      if (answer.status === 'rejected')
        expect((answer.reason as { errorType: string }).errorType).toBe('IssuanceInProgress');
    }
    expect(await certificatesOf(h, d.serial)).toHaveLength(2);
    await settle(d);
  });

  it('two renewals at once for different keys: at most two active certificates, one pending afterwards', async () => {
    const d = await device();
    const [a, b] = [await makeCsr({ commonName: d.serial }), await makeCsr({ commonName: d.serial })];
    await Promise.allSettled([renew(h, d, a), renew(h, d, b)]);
    await rotationInvariantsHold(h, d.serial);
    await settle(d);
  });

  it('renew (another key) against confirm: one wins, and the rotation ends with one certificate', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    const confirmation = await confirmationFor(d, grant, next);
    const replacement = await renewalFor(d, await makeCsr({ commonName: d.serial }));
    await Promise.allSettled([confirmCertificate(h.ctx, confirmation), renewCertificate(h.ctx, replacement)]);
    await rotationInvariantsHold(h, d.serial);
    await settle(d);
  });

  it('confirm against the rollback at the deadline: one wins', async () => {
    const d = await device();
    const next = await makeCsr({ commonName: d.serial });
    const grant = await renew(h, d, next);
    const confirmation = await confirmationFor(d, grant, next);
    h.clock.advance(WINDOW_SECONDS * 1000 - 1);
    const confirming = confirmCertificate(h.ctx, confirmation);
    h.clock.advance(1);
    await Promise.allSettled([confirming, sweepRotations(h.ctx, false, ADMIN)]);
    await rotationInvariantsHold(h, d.serial);
    const record = await h.table.store.get(d.serial);
    const kept = record?.certificateId;
    expect([d.certificateId, grant.certificateId]).toContain(kept);
    await settle(d);
  });

  it('revoke against renew: everything the device had or was getting ends REVOKED', async () => {
    const d = await device();
    await Promise.allSettled([
      renew(h, d, await makeCsr({ commonName: d.serial })),
      revokeCertificate(h.ctx, { serialNumber: d.serial }, ADMIN),
    ]);
    await revokeCertificate(h.ctx, { serialNumber: d.serial }, ADMIN);
    h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);
    await reconcile(h.ctx, {}, ADMIN);
    const statuses = (await certificatesOf(h, d.serial)).map((certificate) => certificate.status);
    expect(statuses.filter((status) => status === 'ACTIVE')).toEqual([]);
  });
});
