import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../../../resolvers/core/reconcile.ts';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr } from '../../../support/csr.ts';

let h: CoreHarness;
let counter = 0;

beforeAll(async () => {
  h = await startCoreHarness({ reconcileLookBackHours: 1 });
});
afterAll(async () => {
  await h.close();
});

async function newDevice() {
  counter += 1;
  // Each test starts two hours on, so the reconciler's hour holds only its own certificates.
  h.clock.advance(2 * 3_600_000);
  const serial = `RC-${String(counter).padStart(3, '0')}`;
  const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
  const csr = await makeCsr({ commonName: serial });
  const enroll = () => requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: csr.csrPem });
  return { serial, csr, enroll };
}

/** A process that died right after creating the certificate: the certificate exists, nothing records it. */
async function crashAfterCreate(device: Awaited<ReturnType<typeof newDevice>>) {
  h.faults.reset();
  h.faults.inject('authority.createCertificate#1', 'crash after');
  await device.enroll().catch(() => undefined);
  h.faults.reset();
  const orphan = (await h.localCa.registry.listCertificates()).at(-1);
  if (orphan === undefined) throw new Error('no certificate was created');
  return orphan;
}

const leaseLater = () => h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);

describe('reconcile', () => {
  it('leaves a certificate younger than the lease alone: its issuance may still be under way', async () => {
    const device = await newDevice();
    await crashAfterCreate(device);
    expect(await reconcile(h.ctx, {}, ADMIN)).toMatchObject({ orphans: [], repaired: 0 });
    leaseLater();
    expect((await reconcile(h.ctx, {}, ADMIN)).repaired).toBe(1);
  });

  it('finishes the abandoned claim and deletes the orphan; a second run finds nothing', async () => {
    const device = await newDevice();
    const orphan = await crashAfterCreate(device);
    leaseLater();

    const dryRun = await reconcile(h.ctx, { dryRun: true }, ADMIN);
    expect(dryRun).toEqual({
      scanned: 1,
      orphans: [{ certificateId: orphan.id, serialNumber: device.serial, status: 'INACTIVE', action: 'would delete' }],
      repaired: 1,
      rotationsSettled: 0,
    });
    expect(await h.localCa.registry.getCertificate(orphan.id)).toBeDefined();
    expect((await h.table.store.get(device.serial))?.status).toBe('ISSUING');

    const report = await reconcile(h.ctx, {}, ADMIN);
    expect(report).toEqual({
      scanned: 1,
      orphans: [{ certificateId: orphan.id, serialNumber: device.serial, status: 'INACTIVE', action: 'deleted' }],
      repaired: 1,
      rotationsSettled: 0,
    });
    expect(await h.localCa.registry.getCertificate(orphan.id)).toBeUndefined();
    expect((await h.table.store.get(device.serial))?.status).toBe('PENDING');
    expect(await reconcile(h.ctx, {}, ADMIN)).toEqual({ scanned: 0, orphans: [], repaired: 0, rotationsSettled: 0 });

    // The device enrolls with its token as if nothing had happened.
    await expect(device.enroll()).resolves.toMatchObject({ serialNumber: device.serial });
  });

  it('revokes an orphan found ACTIVE, and keeps it as evidence', async () => {
    const device = await newDevice();
    const orphan = await crashAfterCreate(device);
    await h.localCa.setCertificateStatus(orphan.id, 'ACTIVE');
    leaseLater();
    const report = await reconcile(h.ctx, {}, ADMIN);
    expect(report.orphans).toEqual([
      { certificateId: orphan.id, serialNumber: device.serial, status: 'ACTIVE', action: 'revoked' },
    ]);
    expect(await h.localCa.registry.getCertificate(orphan.id)).toMatchObject({ status: 'REVOKED' });
    expect((await reconcile(h.ctx, {}, ADMIN)).orphans).toEqual([]);
  });

  it("leaves alone an ACTIVE certificate for a registered serial but another key: it is not cvm's to revoke", async () => {
    const device = await newDevice();
    await device.enroll();
    const foreign = await h.localCa.createCertificate((await makeCsr({ commonName: device.serial })).csrPem);
    await h.localCa.setCertificateStatus(foreign.certificateId, 'ACTIVE');
    leaseLater();
    expect((await reconcile(h.ctx, {}, ADMIN)).orphans).toEqual([]);
    expect(await h.localCa.registry.getCertificate(foreign.certificateId)).toMatchObject({ status: 'ACTIVE' });
  });

  it('never touches the recorded certificate, a revoked one, or one made for no registered device', async () => {
    const device = await newDevice();
    const grant = await device.enroll();
    const stranger = await h.localCa.createCertificate((await makeCsr({ commonName: 'not-a-cvm-device' })).csrPem);
    leaseLater();
    const report = await reconcile(h.ctx, {}, ADMIN);
    expect(report).toEqual({ scanned: 2, orphans: [], repaired: 0, rotationsSettled: 0 });
    expect(await h.localCa.registry.getCertificate(grant.certificateId)).toMatchObject({ status: 'ACTIVE' });
    expect(await h.localCa.registry.getCertificate(stranger.certificateId)).toBeDefined();
  });

  it('refuses a dryRun that is not a boolean', async () => {
    await expect(reconcile(h.ctx, { dryRun: 'yes' }, ADMIN)).rejects.toMatchObject(
      new CvmError('InvalidInput', 'dryRun must be true or false.'),
    );
  });
});
