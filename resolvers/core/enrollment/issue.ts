/**
 * Issue the certificate for a claimed device in four rounds after the claim: create it (inactive) ∥ make the
 * thing; record it on the item ∥ attach the policy ∥ attach the thing; activate it; finalize (→ ACTIVE) ∥ write
 * the ISSUED event. Recording runs alongside the attachments because nothing can use the certificate before it
 * is activated, and activation waits for the record. Any failure is compensated; a resumed claim starts at the
 * attachments, its certificate already recorded.
 */
import type { CoreContext } from '../context.ts';
import type { InspectedCsr } from '../csr.ts';
import type { DeviceRecord } from '../device.ts';
import { activate, isRefusal, recordCertificate } from '../device-lifecycle.ts';
import { CvmError } from '../errors.ts';
import { attachments, requireLeaseTime, settleAll, writeHeld, type IssuanceProgress } from '../issuance-steps.ts';
import { retryThrottled } from '../throttle-retry.ts';
import { compensate } from './compensate.ts';
import { recordIssued } from './grant.ts';

/** Returns the ACTIVE record, or throws the answer for the device after undoing the attempt. */
export async function issue(
  ctx: CoreContext,
  claimed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
): Promise<DeviceRecord> {
  const { authority } = ctx;
  const owner = claimed.lease?.owner ?? '';
  const progress: IssuanceProgress = { current: claimed, created: undefined, activated: false };
  return compensated(ctx, progress, deadline, async () => {
    const [certificate, thing] = await Promise.allSettled([
      retryThrottled(ctx, deadline, () => authority.createCertificate(csr.pem)),
      retryThrottled(ctx, deadline, () => authority.ensureThing(claimed.thingName, claimed.attributes ?? {})),
    ]);
    if (certificate.status === 'fulfilled') progress.created = certificate.value;
    else throw certificate.reason;
    if (thing.status === 'rejected') throw thing.reason;
    const issued = progress.created;

    // Recorded before it can be used: activation waits for this write, so a crash from then on leaves a
    // certificate the item points at.
    const recording = writeHeld(ctx, recordCertificate(claimed, ctx.clock.now(), owner, issued)).then((recorded) => {
      progress.current = recorded;
    });
    await settleAll([recording, ...attachments(ctx, claimed.thingName, issued.certificateArn, deadline)]);
    return activateAndFinalize(ctx, progress, csr, deadline);
  });
}

/** Finish a suspended issuance this request resumed: its certificate is recorded; attach, activate, finalize. */
export async function resumeIssuance(
  ctx: CoreContext,
  resumed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
): Promise<DeviceRecord> {
  const { certificateId, certificateArn, certificatePem } = resumed;
  if (certificateId === undefined || certificateArn === undefined || certificatePem === undefined) {
    throw new CvmError('InternalError', 'The device record is incomplete; ask an administrator to reset the device.');
  }
  const progress: IssuanceProgress = {
    current: resumed,
    created: { certificateId, certificateArn, certificatePem },
    activated: false,
  };
  return compensated(ctx, progress, deadline, async () => {
    // Attaching what is already attached is harmless: the suspended request may have done either.
    await settleAll(attachments(ctx, resumed.thingName, certificateArn, deadline));
    return activateAndFinalize(ctx, progress, csr, deadline);
  });
}

async function compensated(
  ctx: CoreContext,
  progress: IssuanceProgress,
  deadline: number,
  steps: () => Promise<DeviceRecord>,
): Promise<DeviceRecord> {
  try {
    return await steps();
  } catch (error) {
    const outcome = await compensate(ctx, progress.current, progress.created, error, deadline, progress.activated);
    if (outcome instanceof CvmError) throw outcome;
    return outcome;
  }
}

/** Activate last, then the final write and the ISSUED event together (the event is keyed once per certificate). */
async function activateAndFinalize(
  ctx: CoreContext,
  progress: IssuanceProgress,
  csr: InspectedCsr,
  deadline: number,
): Promise<DeviceRecord> {
  const { current } = progress;
  const owner = current.lease?.owner ?? '';
  const certificateId = current.certificateId ?? '';
  requireLeaseTime(ctx, current.lease);
  await retryThrottled(ctx, deadline, () => ctx.authority.setCertificateStatus(certificateId, 'ACTIVE'));
  progress.activated = true;
  const active = activate(current, ctx.clock.now(), owner);
  // The final write is started first: a process that dies before it writes no event either. Both settle before
  // any compensation starts.
  const finalWrite = writeHeld(ctx, active);
  const issuedEvent = isRefusal(active) ? Promise.resolve() : recordIssued(ctx, active, csr.keyDescription);
  await Promise.allSettled([finalWrite, issuedEvent]);
  return finalWrite;
}
