/**
 * Undo a failed issuance: discard (or, when an admin revoked it meanwhile or its ISSUED event may name it,
 * revoke) the certificate it created, release the claim when we still hold it, and say what the device should do.
 * A throttled or timed-out issuance whose certificate is recorded is not undone but suspended: the device's retry
 * with the same key resumes it (no second certificate). If the certificate cannot be discarded now, it stays
 * recorded on the item under an expired lease, so the next request (or the reconciler) finishes the cleanup
 * before anything else happens.
 */
import { describeError, recordEvent } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord } from '../device.ts';
import { abandon, release, suspend } from '../device-lifecycle.ts';
import { isCvmError, ThrottledError, type CvmError } from '../errors.ts';
import { readAfterFailure, undoCreatedCertificate } from '../issuance-steps.ts';
import type { CreatedCertificate } from '../ports.ts';
import { swap } from '../store-writes.ts';
import { issuanceFailed, issuanceInProgress, revokedWhileIssuing } from './answers.ts';
import { ClaimLostError } from './claim-lost.ts';

const DEVICE = { kind: 'device' } as const;

/**
 * Returns the error to answer with, or the device record when the issuance had in fact completed
 * (its final write landed, the answer was lost).
 */
export async function compensate(
  ctx: CoreContext,
  current: DeviceRecord,
  created: CreatedCertificate | undefined,
  error: unknown,
  deadline: number,
  activated: boolean,
): Promise<CvmError | DeviceRecord> {
  const owner = current.lease?.owner ?? '';
  const latest = await readAfterFailure(ctx, current.serialNumber);
  const ours = created?.certificateId;
  if (latest !== 'unknown' && ours !== undefined && latest?.certificateId === ours && latest.status === 'ACTIVE') {
    return latest;
  }

  const held =
    latest !== 'unknown' && latest?.status === 'ISSUING' && latest.lease?.owner === owner ? latest : undefined;
  const claimLost = latest !== 'unknown' && held === undefined;
  // Our record of the certificate landed: from then on the device item names it.
  const recorded = ours !== undefined && current.certificateId === ours;
  if (held !== undefined && recorded && !activated && isResumable(error)) {
    await swap(ctx.store, suspend(held, ctx.clock.now(), owner)).catch((suspendError: unknown) => {
      ctx.telemetry.log('warn', 'Could not suspend the claim after a failed issuance; it expires with its lease', {
        serialNumber: current.serialNumber,
        error: describeError(suspendError),
      });
      return 'lost';
    });
    // Suspended or not, the certificate stays recorded: the device's retry resumes, or a takeover cleans up.
    return answered(ctx, current.serialNumber, error, answerFor(error, latest, false, false));
  }

  let discarded = true;
  if (created !== undefined && !(latest === 'unknown' && recorded)) {
    // A revoke or reset that won the race saw our certificate on the item and named it in its REVOKED event;
    // an activated certificate may be named by the ISSUED event written alongside the final write: either
    // way it stays, revoked, as the evidence that event points at. Otherwise nothing names it: it goes.
    const ref = { thingName: current.thingName, ...created };
    const keep = (claimLost && recorded) || activated;
    discarded = await undoCreatedCertificate(ctx, deadline, ref, keep, current.serialNumber);
  }

  if (held !== undefined) {
    const now = ctx.clock.now();
    const handBack =
      discarded || created === undefined ? release(held, now, owner) : abandon(held, now, owner, created);
    try {
      await swap(ctx.store, handBack);
    } catch (releaseError) {
      ctx.telemetry.log('error', 'Could not release the claim after a failed issuance; it expires with its lease', {
        serialNumber: current.serialNumber,
        error: describeError(releaseError),
      });
    }
  }

  return answered(
    ctx,
    current.serialNumber,
    error,
    answerFor(error, latest, claimLost, created !== undefined && !discarded),
  );
}

/** Throttling and running out of time pass: the same request a little later would go through. */
function isResumable(error: unknown): boolean {
  return (
    error instanceof ThrottledError ||
    (isCvmError(error) && (error.errorType === 'Throttled' || error.errorType === 'IssuanceInProgress'))
  );
}

async function answered(ctx: CoreContext, serialNumber: string, error: unknown, answer: CvmError): Promise<CvmError> {
  ctx.telemetry.log(answer.errorType === 'InternalError' ? 'error' : 'warn', 'Certificate issuance failed', {
    serialNumber,
    errorType: answer.errorType,
    error: describeError(error),
  });
  await recordEvent(ctx, serialNumber, 'ISSUE_FAILED', DEVICE, { errorType: answer.errorType });
  return answer;
}

function answerFor(
  error: unknown,
  latest: DeviceRecord | 'unknown' | undefined,
  claimLost: boolean,
  certificateLeftOver: boolean,
): CvmError {
  // Whatever failed, if the claim is no longer ours the device's state explains the failure better: an admin
  // revoked or reset the device while we issued (AWS IoT then refuses to activate a revoked certificate, say),
  // or our lease ran out and another request took over.
  if (claimLost || error instanceof ClaimLostError) {
    if (latest === undefined || latest === 'unknown' || latest.status === 'REVOKED' || latest.status === 'PENDING') {
      return revokedWhileIssuing();
    }
    return issuanceInProgress();
  }
  return issuanceFailed(error, certificateLeftOver);
}
