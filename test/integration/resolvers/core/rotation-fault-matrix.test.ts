/**
 * Every step of a renewal, a confirmation and a rollback × every fault (an error, throttling, the process dying
 * right before or right after the step). After each fault the request's answer is discarded, a new process
 * recovers as `cvm device rotate` would (it repeats the same renewal and the same confirmation) or as the
 * schedule would (the sweep runs again), the reconciler runs, and then the rotation invariants must hold: at most
 * two active certificates at any moment, exactly one once the rotation ends, nothing orphaned.
 *
 * The step lists are checked against the trace of a clean run, so a new step cannot go untested.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateGrant } from '../../../../contract/api-types.ts';
import { reconcile } from '../../../../resolvers/core/reconcile.ts';
import { confirmCertificate } from '../../../../resolvers/core/rotation/confirm-certificate.ts';
import { renewCertificate } from '../../../../resolvers/core/rotation/renew-certificate.ts';
import { sweepRotations } from '../../../../resolvers/core/rotation/sweep.ts';
import { ADMIN, FAULT_KINDS, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr, type MadeCsr } from '../../../support/csr.ts';
import {
  atMostTwoActive,
  certificatesOf,
  confirmationFor,
  enrolledRotatingDevice,
  renewalFor,
  rotationInvariantsHold,
  type RotatingDevice,
} from '../../../support/rotation.ts';

const RENEW_STEPS = [
  'store.get#1', // the device, to check the proof
  'store.replace#1', // claim the rotation
  'authority.connectionInfo#1', // alongside the issuance, for the answer
  'authority.createCertificate#1',
  'store.replace#2', // record the new certificate, alongside the attachments
  'authority.attachPolicy#1',
  'authority.attachThingPrincipal#1',
  'authority.setCertificateStatus(ACTIVE)#1',
  'store.replace#3', // pending confirmation, alongside the RENEWAL_REQUESTED event
  'store.appendEvent#1',
];
const CONFIRM_STEPS = [
  'store.get#1',
  'store.replace#1', // commit: the new certificate is the device's, the old one retiring
  'authority.setCertificateStatus(REVOKED)#1',
  'authority.detachPolicy#1',
  'authority.detachThingPrincipal#1',
  'store.appendEvent#1', // ROTATED
  'store.replace#2', // retired
];
const ROLLBACK_STEPS = [
  'store.listRotations#1', // certificates retiring
  'store.listRotations#2', // rotations due
  'store.replace#1', // roll back: the new certificate retiring
  'authority.setCertificateStatus(REVOKED)#1',
  'authority.detachPolicy#1',
  'authority.detachThingPrincipal#1',
  'store.appendEvent#1', // ROTATION_ROLLED_BACK
  'store.replace#2', // retired
];
const WINDOW_SECONDS = 3600;

let h: CoreHarness;
let counter = 0;

function useHarness(): void {
  beforeAll(async () => {
    h = await startCoreHarness({ rotationWindowSeconds: WINDOW_SECONDS, reconcileLookBackHours: 1 });
  });
  afterAll(async () => {
    await h.close();
  });
}

async function newDevice(): Promise<{ device: RotatingDevice; next: MadeCsr }> {
  counter += 1;
  h.clock.advance(2 * 3_600_000);
  const device = await enrolledRotatingDevice(h, `RFM-${String(counter).padStart(4, '0')}`);
  return { device, next: await makeCsr({ commonName: device.serial }) };
}

async function withFaults(step: string, kind: (typeof FAULT_KINDS)[number], request: () => Promise<unknown>) {
  h.faults.reset();
  h.faults.inject(step, kind);
  await request().catch(() => undefined);
  h.faults.reset();
  h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);
}

/** `cvm device rotate` run again: the same renewal, then the same confirmation, a few tries each. */
async function deviceFinishesRotation(device: RotatingDevice, next: MadeCsr): Promise<CertificateGrant> {
  const renewal = await renewalFor(device, next);
  let grant: CertificateGrant | undefined;
  for (let attempt = 0; attempt < 4 && grant === undefined; attempt += 1) {
    grant = await renewCertificate(h.ctx, renewal).catch(() => undefined);
    h.clock.advance(1000);
  }
  grant ??= await renewCertificate(h.ctx, renewal);
  const confirmation = await confirmationFor(device, grant, next);
  for (let attempt = 0; attempt < 4; attempt += 1) {
    if (
      await confirmCertificate(h.ctx, confirmation).then(
        () => true,
        () => false,
      )
    )
      return grant;
    h.clock.advance(1000);
  }
  await confirmCertificate(h.ctx, confirmation);
  return grant;
}

async function settled(device: RotatingDevice, expectedCertificateId: string): Promise<void> {
  h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);
  const report = await reconcile(h.ctx, {}, ADMIN);
  expect(report.orphans.every((orphan) => orphan.action !== 'failed')).toBe(true);
  expect((await reconcile(h.ctx, {}, ADMIN)).orphans).toEqual([]);
  const record = await h.table.store.get(device.serial);
  expect(record).toMatchObject({ status: 'ACTIVE', certificateId: expectedCertificateId });
  expect(record?.rotation).toBeUndefined();
  expect(record?.retiring).toBeUndefined();
  await rotationInvariantsHold(h, device.serial);
  const active = (await certificatesOf(h, device.serial)).filter((certificate) => certificate.status === 'ACTIVE');
  expect(active.map((certificate) => certificate.id)).toEqual([expectedCertificateId]);
}

const cases = (steps: readonly string[]) => steps.flatMap((step) => FAULT_KINDS.map((kind) => ({ step, kind })));

describe('rotation fault matrix', () => {
  describe('the step lists are those of a clean run', () => {
    useHarness();
    it('renewal, confirmation and rollback', async () => {
      const { device, next } = await newDevice();
      h.faults.reset();
      const grant = await renewCertificate(h.ctx, await renewalFor(device, next));
      expect(h.faults.trace).toEqual(RENEW_STEPS);
      h.faults.reset();
      await confirmCertificate(h.ctx, await confirmationFor(device, grant, next));
      expect(h.faults.trace).toEqual(CONFIRM_STEPS);

      const other = await newDevice();
      await renewCertificate(h.ctx, await renewalFor(other.device, other.next));
      h.clock.advance(WINDOW_SECONDS * 1000);
      h.faults.reset();
      await sweepRotations(h.ctx, false, ADMIN);
      expect(h.faults.trace).toEqual(ROLLBACK_STEPS);
    });
  });

  describe('renewal', () => {
    useHarness();
    it.each(cases(RENEW_STEPS))('$kind at $step: the device rotates on its next run', async ({ step, kind }) => {
      const { device, next } = await newDevice();
      const request = await renewalFor(device, next);
      await withFaults(step, kind, () => renewCertificate(h.ctx, request));
      await atMostTwoActive(h, device.serial);
      const grant = await deviceFinishesRotation(device, next);
      await settled(device, grant.certificateId);
    });
  });

  describe('confirmation', () => {
    useHarness();
    it.each(cases(CONFIRM_STEPS))('$kind at $step: confirming again finishes it', async ({ step, kind }) => {
      const { device, next } = await newDevice();
      const grant = await renewCertificate(h.ctx, await renewalFor(device, next));
      const old = device.certificateId;
      const confirmation = await confirmationFor(device, grant, next);
      await withFaults(step, kind, () => confirmCertificate(h.ctx, confirmation));
      await atMostTwoActive(h, device.serial);
      await confirmCertificate(h.ctx, confirmation);
      await settled(device, grant.certificateId);
      expect((await h.localCa.registry.getCertificate(old))?.status).toBe('REVOKED');
      const rotated = (await h.table.store.listEvents(device.serial, 50)).items.filter((e) => e.type === 'ROTATED');
      expect(rotated).toHaveLength(1);
    });
  });

  describe('rollback', () => {
    useHarness();
    it.each(cases(ROLLBACK_STEPS))('$kind at $step: the next sweep finishes it', async ({ step, kind }) => {
      const { device, next } = await newDevice();
      const grant = await renewCertificate(h.ctx, await renewalFor(device, next));
      h.clock.advance(WINDOW_SECONDS * 1000);
      await withFaults(step, kind, () => sweepRotations(h.ctx, false, ADMIN));
      await atMostTwoActive(h, device.serial);
      await sweepRotations(h.ctx, false, ADMIN);
      await settled(device, device.certificateId);
      expect((await h.localCa.registry.getCertificate(grant.certificateId))?.status).toBe('REVOKED');
      const events = (await h.table.store.listEvents(device.serial, 50)).items;
      expect(events.filter((event) => event.type === 'ROTATION_ROLLED_BACK')).toHaveLength(1);
    });
  });
});
