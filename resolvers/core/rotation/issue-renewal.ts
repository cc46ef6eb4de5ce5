/**
 * Issue a rotating device's new certificate with the machinery of an enrollment, on the rotation's own claim:
 * create it (inactive); record it on the device ∥ attach the policy ∥ attach the thing; activate it; then mark it
 * pending confirmation (with its deadline) ∥ write the RENEWAL_REQUESTED event. The device's current certificate is
 * never touched: both work until the device confirms, or the deadline rolls the new one back.
 *
 * Any failure is undone: the new certificate is discarded (or revoked, once it was active or when a revocation
 * named it) and the claim released, so that the device can simply ask again. If the certificate cannot be undone
 * now, it stays recorded under an expired lease and the next call or the sweep retires it.
 */
import { describeError, recordEvent } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import type { InspectedCsr } from '../csr.ts';
import type { DeviceRecord } from '../device.ts';
import {
  abandonRenewal,
  awaitConfirmation,
  awaitingConfirmation,
  isRefusal,
  recordRenewalCertificate,
  releaseRenewal,
} from '../device-lifecycle.ts';
import { issuanceFailed, issuanceInProgress } from '../enrollment/answers.ts';
import { ClaimLostError } from '../enrollment/claim-lost.ts';
import { CvmError } from '../errors.ts';
import {
  attachments,
  readAfterFailure,
  requireLeaseTime,
  settleAll,
  undoCreatedCertificate,
  writeHeld,
  type IssuanceProgress,
} from '../issuance-steps.ts';
import { swap } from '../store-writes.ts';
import { retryThrottled } from '../throttle-retry.ts';
import { invalidProof } from './rotation-input.ts';

const DEVICE = { kind: 'device' } as const;

/** Returns the device with its rotation pending confirmation, or throws the answer after undoing the attempt. */
export async function issueRenewal(
  ctx: CoreContext,
  claimed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
): Promise<DeviceRecord> {
  const { authority } = ctx;
  const owner = claimed.rotation?.lease?.owner ?? '';
  const progress: IssuanceProgress = { current: claimed, created: undefined, activated: false };
  try {
    const created = await retryThrottled(ctx, deadline, () => authority.createCertificate(csr.pem));
    progress.created = created;
    const recording = writeHeld(ctx, recordRenewalCertificate(claimed, ctx.clock.now(), owner, created)).then(
      (recorded) => {
        progress.current = recorded;
      },
    );
    await settleAll([recording, ...attachments(ctx, claimed.thingName, created.certificateArn, deadline)]);

    requireLeaseTime(ctx, progress.current.rotation?.lease);
    await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(created.certificateId, 'ACTIVE'));
    progress.activated = true;
    const now = ctx.clock.now();
    const confirmBy = new Date(now.getTime() + ctx.settings.rotationWindowSeconds * 1000);
    const pending = awaitConfirmation(progress.current, now, owner, confirmBy);
    const finalWrite = writeHeld(ctx, pending);
    const requested = isRefusal(pending) ? Promise.resolve() : recordRenewalRequested(ctx, pending, csr.keyDescription);
    await Promise.allSettled([finalWrite, requested]);
    return await finalWrite;
  } catch (error) {
    const outcome = await undo(ctx, progress, owner, error, deadline);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }
}

/**
 * The RENEWAL_REQUESTED event of a rotation pending confirmation, keyed by its certificate and stamped with its
 * issue time: the request that issued it and every repeat that returns it write the same one event.
 */
export async function recordRenewalRequested(
  ctx: CoreContext,
  pending: DeviceRecord,
  keyDescription: string,
): Promise<void> {
  const rotation = pending.rotation;
  if (!awaitingConfirmation(rotation) || pending.certificateId === undefined) return;
  await recordEvent(
    ctx,
    pending.serialNumber,
    'RENEWAL_REQUESTED',
    DEVICE,
    {
      certificateId: rotation.certificateId,
      currentCertificateId: pending.certificateId,
      confirmBy: rotation.confirmBy,
      key: keyDescription,
    },
    { at: rotation.issuedAt ?? pending.updatedAt, onceKey: `RENEWAL_REQUESTED#${rotation.certificateId}` },
  );
}

/** issuanceFailed's answer, in a renewal's words: the device repeats its renewal, it has no token to retry with. */
function renewalFailed(error: unknown, certificateLeftOver: boolean): CvmError {
  const answer = issuanceFailed(error, certificateLeftOver);
  if (answer.errorType !== 'InternalError') return answer;
  return new CvmError(
    'InternalError',
    certificateLeftOver
      ? 'The new certificate could not be issued; the current one still works. Repeat the renewal (cleanup of the attempt finishes first).'
      : 'The new certificate could not be issued; nothing changed and the current one still works. Repeat the renewal.',
    { cause: error },
  );
}

/** Undo a failed renewal; returns the device when it had in fact completed (its final write landed). */
async function undo(
  ctx: CoreContext,
  progress: IssuanceProgress,
  owner: string,
  error: unknown,
  deadline: number,
): Promise<CvmError | DeviceRecord> {
  const { current, created, activated } = progress;
  const serialNumber = current.serialNumber;
  const latest = await readAfterFailure(ctx, serialNumber);
  const ours = created?.certificateId;
  if (latest !== 'unknown' && latest?.status === 'ACTIVE' && ours !== undefined) {
    const rotation = latest.rotation;
    if (awaitingConfirmation(rotation) && rotation.certificateId === ours) return latest;
  }
  const held =
    latest !== 'unknown' && latest?.status === 'ACTIVE' && latest.rotation?.lease?.owner === owner ? latest : undefined;
  const claimLost = latest !== 'unknown' && held === undefined;
  const recorded = ours !== undefined && current.rotation?.certificateId === ours;

  let undone = true;
  if (created !== undefined && !(latest === 'unknown' && recorded)) {
    // Once active, or named by a revocation that won the race, it is revoked and kept; otherwise nothing names it
    // and it goes.
    const ref = { thingName: current.thingName, ...created };
    undone = await undoCreatedCertificate(ctx, deadline, ref, activated || (claimLost && recorded), serialNumber);
  }
  if (held !== undefined) {
    const now = ctx.clock.now();
    const handBack =
      undone || created === undefined ? releaseRenewal(held, now, owner) : abandonRenewal(held, now, owner, created);
    await swap(ctx.store, handBack).catch((releaseError: unknown) => {
      ctx.telemetry.log('error', 'Could not release a failed renewal; it expires with its lease', {
        serialNumber,
        error: describeError(releaseError),
      });
    });
  }

  const answer =
    claimLost || error instanceof ClaimLostError
      ? latest === 'unknown' || latest?.status !== 'ACTIVE'
        ? invalidProof()
        : issuanceInProgress()
      : renewalFailed(error, created !== undefined && !undone);
  ctx.telemetry.log(answer.errorType === 'InternalError' ? 'error' : 'warn', 'Certificate renewal failed', {
    serialNumber,
    errorType: answer.errorType,
    error: describeError(error),
  });
  await recordEvent(ctx, serialNumber, 'ISSUE_FAILED', DEVICE, { errorType: answer.errorType, renewal: true });
  return answer;
}
