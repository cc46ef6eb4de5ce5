/**
 * Every forward and cleanup step of enrollment, revoke and reset (each authority call, each store write and read,
 * the audit writes) × every fault (an error, throttling, the process dying right before the step, the process
 * dying right after it). After each fault the failed request is discarded, a new process recovers the way a user
 * would (the device retries, the admin repeats the action) and the reconciler runs; then the invariants must hold.
 *
 * The step lists are checked against the trace of a clean run, so a new step cannot go untested.
 */
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceStatus } from '../../../../resolvers/core/device.ts';
import { reconcile } from '../../../../resolvers/core/reconcile.ts';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { resetDevice, revokeCertificate } from '../../../../resolvers/core/revoke-and-reset.ts';
import { ADMIN, FAULT_KINDS, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr, type MadeCsr } from '../../../support/csr.ts';

const ENROLL_STEPS = [
  'store.claim#1', // claim, without reading first
  'authority.connectionInfo#1', // alongside the issuance, for the answer
  'authority.createCertificate#1',
  'authority.ensureThing#1',
  'store.replace#1', // record the certificate, alongside the attachments
  'authority.attachPolicy#1',
  'authority.attachThingPrincipal#1',
  'authority.setCertificateStatus(ACTIVE)#1',
  'store.replace#2', // activate, alongside the ISSUED event
  'store.appendEvent#1', // ISSUED
];
/** Activation fails; these undo the attempt. */
const ENROLL_CLEANUP_STEPS = [
  'store.get#1', // what does the item say now?
  'authority.setCertificateStatus(INACTIVE)#1',
  'authority.detachPolicy#1',
  'authority.detachThingPrincipal#1',
  'authority.deleteCertificate#1',
  'store.replace#2', // release
  'store.appendEvent#1', // ISSUE_FAILED
];
const FAILED_ACTIVATION = 'authority.setCertificateStatus(ACTIVE)#1';
const WRONG_TOKEN_STEPS = [
  'store.claim#1' /* refused */,
  'store.get#1' /* to explain the refusal */,
  'store.replace#1' /* the counter */,
  'store.appendEvent#1' /* TOKEN_FAILED */,
];
const REVOKE_STEPS = [
  'store.get#1',
  'store.replace#1', // REVOKED
  'store.appendEvent#1', // REVOKED event
  'authority.setCertificateStatus(REVOKED)#1',
  'authority.detachPolicy#1',
  'authority.detachThingPrincipal#1',
];
const RESET_STEPS = [
  ...REVOKE_STEPS,
  'store.get#2',
  'store.replace#2' /* PENDING */,
  'store.appendEvent#2' /* RESET */,
];

let h: CoreHarness;
let counter = 0;

/**
 * A harness per group of cases, so the local CA's registry (which the reconciler and the checks read whole) stays
 * small. Each case starts two hours after the last, so the reconciler's window (an hour) holds only its certificates.
 */
function useHarness(): void {
  beforeAll(async () => {
    h = await startCoreHarness({ reconcileLookBackHours: 1 });
  });
  afterAll(async () => {
    await h.close();
  });
}

interface Device {
  readonly serial: string;
  /** When the case began: its certificates are the ones created since. */
  readonly since: number;
  token: string;
  readonly csr: MadeCsr;
}

async function newDevice(): Promise<Device> {
  counter += 1;
  h.clock.advance(2 * 3_600_000);
  const since = h.clock.now().getTime();
  const serial = `FM-${String(counter).padStart(4, '0')}`;
  const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
  return { serial, since, token: registrationToken, csr: await makeCsr({ commonName: serial }) };
}

function enroll(device: Device, token = device.token) {
  return requestCertificate(h.ctx, { serialNumber: device.serial, registrationToken: token, csr: device.csr.csrPem });
}

async function enrolledDevice(): Promise<Device> {
  const device = await newDevice();
  await enroll(device);
  return device;
}

/** Run `request` as a process with these faults; whatever it answers is discarded, as a client that gave up. */
async function withFaults(
  faults: Readonly<Record<string, (typeof FAULT_KINDS)[number]>>,
  request: () => Promise<unknown>,
) {
  h.faults.reset();
  for (const [step, kind] of Object.entries(faults)) h.faults.inject(step, kind);
  await request().catch(() => undefined);
  // A new process: nothing more fails, and time moves past any lease the dead one held.
  h.faults.reset();
  h.clock.advance((h.ctx.settings.leaseSeconds + 1) * 1000);
}

/** The device retries as the client library does, a few times, until it has its certificate. */
async function deviceRecovers(device: Device): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    try {
      await enroll(device);
      return;
    } catch {
      h.clock.advance(1000);
    }
  }
  await enroll(device);
}

async function invariantsHold(device: Device, expected: DeviceStatus): Promise<void> {
  const report = await reconcile(h.ctx, {}, ADMIN);
  expect(report.orphans.every((orphan) => orphan.action !== 'failed')).toBe(true);
  expect((await reconcile(h.ctx, {}, ADMIN)).orphans).toEqual([]);

  const record = await h.table.store.get(device.serial);
  expect(record?.status).toBe(expected);
  const certificates = (await h.localCa.registry.listCertificates()).filter(
    (certificate) =>
      Date.parse(certificate.createdAt) >= device.since &&
      new X509Certificate(certificate.pem).subjectName.getField('CN')[0] === device.serial,
  );
  // At most one active certificate, and it is the one the device records.
  const active = certificates.filter((certificate) => certificate.status === 'ACTIVE');
  expect(active.length).toBeLessThanOrEqual(1);
  if (active[0] !== undefined) expect(record?.certificateId).toBe(active[0].id);
  if (expected === 'ACTIVE') expect(active).toHaveLength(1);
  // No certificate left that nothing records, other than revoked ones kept as evidence.
  const unrecorded = certificates.filter((c) => c.status !== 'REVOKED' && c.id !== record?.certificateId);
  expect(unrecorded.map((c) => `${c.id} ${c.status}`)).toEqual([]);
  // Exactly one ISSUED event per issued certificate; the trail names only certificates that still exist.
  const events = (await h.table.store.listEvents(device.serial, 200)).items;
  const issued = events.filter((event) => event.type === 'ISSUED').map((event) => event.details?.['certificateId']);
  expect(new Set(issued).size).toBe(issued.length);
  if (expected === 'ACTIVE') expect(issued).toContain(record?.certificateId);
  const held = new Set(certificates.map((certificate) => certificate.id));
  for (const event of events) {
    const named = event.details?.['certificateId'];
    if (typeof named === 'string' && named !== '') expect(held, `${event.type} names ${named}`).toContain(named);
  }
}

const cases = (steps: readonly string[]) => steps.flatMap((step) => FAULT_KINDS.map((kind) => ({ step, kind })));

describe('fault matrix', () => {
  describe('the step lists are those of a clean run', () => {
    useHarness();
    it('enrollment', async () => {
      const device = await newDevice();
      h.faults.reset();
      await enroll(device);
      expect(h.faults.trace).toEqual(ENROLL_STEPS);
    });

    it('enrollment cleanup after a failed activation', async () => {
      const device = await newDevice();
      h.faults.reset();
      h.faults.inject(FAILED_ACTIVATION, 'error');
      await expect(enroll(device)).rejects.toThrow();
      const trace = h.faults.trace;
      expect(trace.slice(trace.indexOf(FAILED_ACTIVATION) + 1)).toEqual(ENROLL_CLEANUP_STEPS);
      h.faults.reset();
    });

    it('a wrong token', async () => {
      const device = await newDevice();
      h.faults.reset();
      await expect(enroll(device, 'A'.repeat(43))).rejects.toThrow();
      expect(h.faults.trace).toEqual(WRONG_TOKEN_STEPS);
    });

    it('an unknown serial: the same work as a wrong token (a refused claim, a read, two conditional writes)', async () => {
      const device = await newDevice();
      h.faults.reset();
      await expect(
        requestCertificate(h.ctx, {
          serialNumber: `${device.serial}-UNKNOWN`,
          registrationToken: 'A'.repeat(43),
          csr: (await makeCsr({ commonName: `${device.serial}-UNKNOWN` })).csrPem,
        }),
      ).rejects.toThrow();
      // Both writes lose (nothing exists to count); a wrong token's second write is its TOKEN_FAILED event.
      expect(h.faults.trace).toEqual(['store.claim#1', 'store.get#1', 'store.replace#1', 'store.replace#2']);
      expect(WRONG_TOKEN_STEPS.map((step) => step.replace(/\.(replace|appendEvent)#\d/, '.write'))).toEqual([
        'store.claim#1',
        'store.get#1',
        'store.write',
        'store.write',
      ]);
    });

    it('revoke and reset', async () => {
      const revoked = await enrolledDevice();
      h.faults.reset();
      await revokeCertificate(h.ctx, { serialNumber: revoked.serial }, ADMIN);
      expect(h.faults.trace).toEqual(REVOKE_STEPS);
      const reset = await enrolledDevice();
      h.faults.reset();
      await resetDevice(h.ctx, { serialNumber: reset.serial }, ADMIN);
      expect(h.faults.trace).toEqual(RESET_STEPS);
    });
  });

  describe('enrollment', () => {
    useHarness();
    it.each(cases(ENROLL_STEPS))('$kind at $step: the device retries and ends ACTIVE', async ({ step, kind }) => {
      const device = await newDevice();
      await withFaults({ [step]: kind }, () => enroll(device));
      await deviceRecovers(device);
      await invariantsHold(device, 'ACTIVE');
    });
  });

  describe('enrollment cleanup', () => {
    useHarness();
    it.each(cases(ENROLL_CLEANUP_STEPS))(
      'activation fails, then $kind at $step: the device retries and ends ACTIVE',
      async ({ step, kind }) => {
        const device = await newDevice();
        await withFaults({ [FAILED_ACTIVATION]: 'error', [step]: kind }, () => enroll(device));
        await deviceRecovers(device);
        await invariantsHold(device, 'ACTIVE');
      },
    );
  });

  describe('a wrong token', () => {
    useHarness();
    it.each(cases(WRONG_TOKEN_STEPS))('$kind at $step: the device still enrolls', async ({ step, kind }) => {
      const device = await newDevice();
      await withFaults({ [step]: kind }, () => enroll(device, 'A'.repeat(43)));
      await deviceRecovers(device);
      await invariantsHold(device, 'ACTIVE');
    });
  });

  describe('revoke', () => {
    useHarness();
    it.each(cases(REVOKE_STEPS))('$kind at $step: repeating the revoke finishes it', async ({ step, kind }) => {
      const device = await enrolledDevice();
      const certificateId = (await h.table.store.get(device.serial))?.certificateId ?? '';
      await withFaults({ [step]: kind }, () => revokeCertificate(h.ctx, { serialNumber: device.serial }, ADMIN));
      await revokeCertificate(h.ctx, { serialNumber: device.serial }, ADMIN);
      await invariantsHold(device, 'REVOKED');
      const certificate = await h.localCa.registry.getCertificate(certificateId);
      expect(certificate).toMatchObject({ status: 'REVOKED', policies: [], things: [] });
      // One REVOKED event, naming that certificate, however the first attempt ended.
      const events = (await h.table.store.listEvents(device.serial, 50)).items;
      const revokedEvents = events.filter((event) => event.type === 'REVOKED');
      expect(revokedEvents.map((event) => event.details?.['certificateId'])).toEqual([certificateId]);
    });
  });

  describe('reset', () => {
    useHarness();
    it.each(cases(RESET_STEPS))(
      '$kind at $step: repeating the reset finishes it and the device enrolls with the new token',
      async ({ step, kind }) => {
        const device = await enrolledDevice();
        await withFaults({ [step]: kind }, () => resetDevice(h.ctx, { serialNumber: device.serial }, ADMIN));
        const { registrationToken } = await resetDevice(h.ctx, { serialNumber: device.serial }, ADMIN);
        device.token = registrationToken;
        await invariantsHold(device, 'PENDING');
        await deviceRecovers(device);
        await invariantsHold(device, 'ACTIVE');
      },
    );
  });
});
