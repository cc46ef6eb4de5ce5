/**
 * The reconciler: finds what a crash left behind and finishes it, so that "no orphaned certificates" holds even
 * when a process dies between two steps.
 *
 * 1. Abandoned claims: an ISSUING device whose lease expired is taken over, its recorded certificate discarded
 *    and the device released to PENDING (what the device's next request would do).
 * 2. Orphaned certificates: a certificate created within the look-back window, older than the lease, whose
 *    subject CN is a registered device's serial number but which that device does not record (its process died
 *    between creating it and recording it). An INACTIVE one is deleted (cvm creates certificates inactive and
 *    activates only recorded ones). One found ACTIVE is revoked, and kept as evidence, only when its public key is
 *    the one the device record names: an active certificate for another key is not cvm's to revoke.
 *    REVOKED certificates are kept: they are the evidence revocations point at.
 * 3. Rotations: the rotation sweep (rotation/sweep.ts) rolls back those past their deadline, settles abandoned
 *    ones and finishes retirements.
 * Orphans are looked for before abandoned claims are finished, while the claim still names the key it was for.
 * Safe to run at any time and as often as wanted; a run right after another finds nothing.
 */
import type { Caller, CertificateSummary } from './ports.ts';
import { describeError } from './audit.ts';
import { certificateSubject } from './certificate-subject.ts';
import { discardCertificate, revokeCertificateInAuthority } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import { leaseIsLive } from './device-lifecycle.ts';
import { takeOverAbandonedClaim } from './enrollment/take-over.ts';
import { CvmError } from './errors.ts';
import { retryThrottled } from './throttle-retry.ts';
import { sweepRotations } from './rotation/sweep.ts';
import type { OrphanedCertificate, ReconcileReport as ApiReconcileReport } from '../../contract/api-types.ts';

export type OrphanAction = 'deleted' | 'revoked' | 'would delete' | 'would revoke' | 'failed';

/** One orphan found, with the action taken: the API's OrphanedCertificate, its action narrowed. */
export interface OrphanReport extends OrphanedCertificate {
  readonly action: OrphanAction;
}

/** The API's ReconcileReport, with orphans as this use case reports them. */
export interface ReconcileReport extends ApiReconcileReport {
  readonly orphans: readonly OrphanReport[];
}

const PAGE_SIZE = 100;

export async function reconcile(
  ctx: CoreContext,
  args: { dryRun?: unknown },
  caller: Caller,
): Promise<ReconcileReport> {
  if (args.dryRun !== undefined && args.dryRun !== null && typeof args.dryRun !== 'boolean') {
    throw new CvmError('InvalidInput', 'dryRun must be true or false.');
  }
  const dryRun = args.dryRun === true;
  const now = ctx.clock.now();
  const deadline = now.getTime() + ctx.settings.requestBudgetMs + ctx.settings.compensationBudgetMs;
  ctx.telemetry.log('info', 'Reconciling', { dryRun, caller: caller.kind });

  const since = new Date(now.getTime() - ctx.settings.reconcileLookBackHours * 3_600_000);
  const settledBefore = now.getTime() - ctx.settings.leaseSeconds * 1000;
  const recent = await retryThrottled(ctx, deadline, () => ctx.authority.listRecentCertificates(since));
  const orphans: OrphanReport[] = [];
  for (const certificate of recent) {
    // Still being issued, or revoked and kept as evidence: not an orphan.
    if (certificate.status === 'REVOKED' || Date.parse(certificate.createdAt) > settledBefore) continue;
    const serialNumber = await orphanedFrom(ctx, certificate, deadline);
    if (serialNumber === undefined) continue;
    orphans.push(await remove(ctx, certificate, serialNumber, dryRun, deadline));
  }
  for (const _orphan of orphans) ctx.telemetry.count('OrphanedCertificates');
  const repaired = await finishAbandonedClaims(ctx, dryRun, deadline);
  const rotationsSettled = await sweepRotations(ctx, dryRun, caller);
  return { scanned: recent.length, orphans, repaired, rotationsSettled };
}

async function finishAbandonedClaims(ctx: CoreContext, dryRun: boolean, deadline: number): Promise<number> {
  let finished = 0;
  let cursor: string | undefined;
  do {
    const page = await ctx.store.listByStatus('ISSUING', PAGE_SIZE, cursor);
    for (const record of page.items) {
      if (leaseIsLive(record, ctx.clock.now())) continue;
      if (dryRun) {
        finished += 1;
        continue;
      }
      try {
        if ((await takeOverAbandonedClaim(ctx, record, deadline)) === 'released') finished += 1;
      } catch (error) {
        ctx.telemetry.log('error', 'Could not finish an abandoned claim', {
          serialNumber: record.serialNumber,
          error: describeError(error),
        });
      }
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return finished;
}

/** The serial of the cvm device this certificate was made for, when that device does not record it. */
async function orphanedFrom(
  ctx: CoreContext,
  certificate: CertificateSummary,
  deadline: number,
): Promise<string | undefined> {
  const pem = await retryThrottled(ctx, deadline, () => ctx.authority.certificatePem(certificate.certificateId));
  const subject = pem === undefined ? undefined : certificateSubject(pem);
  const serialNumber = subject?.commonName;
  if (subject === undefined || serialNumber === undefined) return undefined;
  const device = await ctx.store.get(serialNumber);
  // Not a cvm device's certificate, or one the device records (a live or finished issuance, a rotation's new
  // certificate, one being retired).
  if (device === undefined || recordedCertificates(device).includes(certificate.certificateId)) return undefined;
  const deviceKeys = [
    device.publicKeyFingerprint,
    device.lease?.publicKeyFingerprint,
    device.rotation?.publicKeyFingerprint,
  ];
  if (certificate.status === 'ACTIVE' && !deviceKeys.includes(subject.publicKeyFingerprint)) return undefined;
  return serialNumber;
}

function recordedCertificates(device: DeviceRecord): (string | undefined)[] {
  return [
    device.certificateId,
    device.rotation?.certificateId,
    ...(device.retiring ?? []).map((entry) => entry.certificateId),
  ];
}

async function remove(
  ctx: CoreContext,
  certificate: CertificateSummary,
  serialNumber: string,
  dryRun: boolean,
  deadline: number,
): Promise<OrphanReport> {
  const found = { certificateId: certificate.certificateId, serialNumber, status: certificate.status };
  const active = certificate.status === 'ACTIVE';
  if (dryRun) return { ...found, action: active ? 'would revoke' : 'would delete' };
  const device = await ctx.store.get(serialNumber);
  const ref = {
    thingName: device?.thingName ?? serialNumber,
    certificateId: certificate.certificateId,
    certificateArn: certificate.certificateArn,
  };
  try {
    if (active) await revokeCertificateInAuthority(ctx, deadline, ref);
    else await discardCertificate(ctx, deadline, ref);
    ctx.telemetry.log('warn', 'Orphaned certificate removed', { ...found, action: active ? 'revoked' : 'deleted' });
    return { ...found, action: active ? 'revoked' : 'deleted' };
  } catch (error) {
    ctx.telemetry.log('error', 'Could not remove an orphaned certificate', { ...found, error: describeError(error) });
    return { ...found, action: 'failed' };
  }
}
