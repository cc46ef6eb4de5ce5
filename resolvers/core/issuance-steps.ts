/**
 * Steps every issuance takes, an enrollment's or a rotation's: attach the new certificate to the device policy
 * and the thing, never activate on a lease about to run out, and wait for every call before acting on a failure.
 */
import { describeError } from './audit.ts';
import { discardCertificate, revokeCertificateInAuthority, type CertificateRef } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import type { DeviceRecord, IssuanceLease } from './device.ts';
import { isRefusal, type Transition } from './device-lifecycle.ts';
import { outOfTime } from './enrollment/answers.ts';
import { ClaimLostError } from './enrollment/claim-lost.ts';
import type { CreatedCertificate } from './ports.ts';
import { swap } from './store-writes.ts';
import { retryThrottled } from './throttle-retry.ts';

/** How far an issuance got: what undoing it must undo. */
export interface IssuanceProgress {
  current: DeviceRecord;
  created: CreatedCertificate | undefined;
  /** The certificate is active in the authority (and an event naming it may have been written). */
  activated: boolean;
}

/** Do not activate a certificate when the lease has less than this left: a takeover may be about to start. */
const LEASE_SAFETY_MS = 5_000;

/** Attach the policy and the thing principal, both at once. */
export function attachments(
  ctx: CoreContext,
  thingName: string,
  certificateArn: string,
  deadline: number,
): Promise<unknown>[] {
  const { authority } = ctx;
  return [
    retryThrottled(ctx, deadline, () => authority.attachPolicy(certificateArn)),
    retryThrottled(ctx, deadline, () => authority.attachThingPrincipal(thingName, certificateArn)),
  ];
}

/** Activation is the last irreversible step: never take it on a lease another request may be taking over. */
export function requireLeaseTime(ctx: CoreContext, lease: IssuanceLease | undefined): void {
  const expiresAt = Date.parse(lease?.expiresAt ?? '');
  if (!(expiresAt - ctx.clock.now().getTime() > LEASE_SAFETY_MS)) throw outOfTime();
}

/** Wait for every call (so cleanup never races a call still in flight), then fail with the first failure. */
export async function settleAll(calls: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Write a step of an issuance this request holds; losing the write means the claim is no longer ours. */
export async function writeHeld(ctx: CoreContext, transition: Transition): Promise<DeviceRecord> {
  if (isRefusal(transition) || (await swap(ctx.store, transition)) === 'lost') {
    throw new ClaimLostError('The claim on the device was taken by another request or an administrator.');
  }
  return transition;
}

/** The device as it is now, after an issuance failed; `unknown` when even that read fails (logged). */
export async function readAfterFailure(
  ctx: CoreContext,
  serialNumber: string,
): Promise<DeviceRecord | 'unknown' | undefined> {
  try {
    return await ctx.store.get(serialNumber);
  } catch (readError) {
    ctx.telemetry.log('warn', 'Could not read the device after a failed issuance', {
      serialNumber,
      error: describeError(readError),
    });
    return 'unknown';
  }
}

/**
 * Undo the certificate a failed issuance created: revoke it, kept as evidence, when an event or a revocation may
 * name it (`keepAsEvidence`); otherwise discard it. Given extra time after `deadline`: undoing matters more than
 * answering fast. False when it could not be done now (logged): the caller leaves it recorded for a later cleanup.
 */
export async function undoCreatedCertificate(
  ctx: CoreContext,
  deadline: number,
  ref: CertificateRef,
  keepAsEvidence: boolean,
  serialNumber: string,
): Promise<boolean> {
  const cleanupDeadline = Math.max(deadline, ctx.clock.now().getTime()) + ctx.settings.compensationBudgetMs;
  try {
    if (keepAsEvidence) await revokeCertificateInAuthority(ctx, cleanupDeadline, ref);
    else await discardCertificate(ctx, cleanupDeadline, ref);
    return true;
  } catch (cleanupError) {
    ctx.telemetry.log('error', 'Could not undo the certificate of a failed issuance; it stays recorded for a retry', {
      serialNumber,
      certificateId: ref.certificateId,
      error: describeError(cleanupError),
    });
    return false;
  }
}
