/**
 * renewCertificate: an ACTIVE device proves it holds its current certificate's key (a signature over the new
 * CSR) and gets a second certificate, pending its confirmation. Exactly once: the claim on the rotation is a
 * compare-and-swap, the same request repeated returns the same pending certificate, and a request for another
 * key first retires the pending one (a device that lost its new key starts again).
 *
 * 1. Check the input and the CSR (bad input changes nothing), then the proof: any failure is InvalidProof.
 * 2. Settle what is due on the device first (a retirement, an abandoned renewal, a rollback past the deadline).
 * 3. Pending for this key: answer it again. Pending for another key: replace it. Being issued: IssuanceInProgress.
 * 4. Claim, issue (issue-renewal), answer with the grant and its deadline.
 */
import { randomUUID } from 'node:crypto';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord } from '../device.ts';
import {
  awaitingConfirmation,
  claimRenewal,
  isRefusal,
  renewalSuperseded,
  replacePendingRenewal,
} from '../device-lifecycle.ts';
import { issuanceInProgress } from '../enrollment/answers.ts';
import { fetchConnection, type CertificateGrant, type Connection } from '../enrollment/grant.ts';
import { requirePinnedKey } from '../enrollment/pinned-key.ts';
import { CvmError } from '../errors.ts';
import { AGAIN, inRounds } from '../retry-rounds.ts';
import { swap } from '../store-writes.ts';
import { issueRenewal, recordRenewalRequested } from './issue-renewal.ts';
import { retireCertificates, settleRotation } from './retire.ts';
import { invalidProof, parseRenewal, proves } from './rotation-input.ts';
import type { RenewCertificateInput } from '../../../contract/api-types.ts';

const DEVICE = { kind: 'device' } as const;

export async function renewCertificate(
  ctx: CoreContext,
  input: { readonly [K in keyof RenewCertificateInput]?: unknown },
): Promise<CertificateGrant> {
  const { serialNumber, certificateId, csr, signature } = await parseRenewal(input);
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs;

  return inRounds(async (): Promise<CertificateGrant | typeof AGAIN> => {
    const record = await ctx.store.get(serialNumber);
    const current =
      record?.status === 'ACTIVE' && record.certificateId === certificateId ? record.certificatePem : undefined;
    if (record === undefined || !proves(current, csr.der, signature)) throw invalidProof();
    // A captured renewal that a later one superseded proves possession, but replaying it must change nothing.
    if (renewalSuperseded(record, csr.publicKeyFingerprint)) throw invalidProof();
    requirePinnedKey(record, csr);

    const settled = await settleRotation(ctx, record, deadline, DEVICE);
    if (settled === 'lost' || settled.outcome === 'settled') return AGAIN;

    const rotation = record.rotation;
    if (awaitingConfirmation(rotation)) {
      if (rotation.publicKeyFingerprint === csr.publicKeyFingerprint) {
        // The same request again (its answer was lost, or the device is replaying it): the same certificate.
        const connection = fetchConnection(ctx, deadline);
        await recordRenewalRequested(ctx, record, csr.keyDescription);
        return pendingGrant(record, await connection);
      }
      const replaced = replacePendingRenewal(record, ctx.clock.now());
      if (isRefusal(replaced) || (await swap(ctx.store, replaced)) === 'lost') return AGAIN;
      ctx.telemetry.log('info', 'Pending certificate replaced by a renewal for another key', {
        serialNumber,
        certificateId: rotation.certificateId,
      });
      await retireCertificates(ctx, replaced, deadline, DEVICE);
      return AGAIN;
    }
    if (rotation !== undefined) throw issuanceInProgress();

    const owner = randomUUID();
    const claimed = claimRenewal(record, {
      now: ctx.clock.now(),
      owner,
      leaseSeconds: ctx.settings.leaseSeconds,
      publicKeyFingerprint: csr.publicKeyFingerprint,
    });
    if (isRefusal(claimed) || (await swap(ctx.store, claimed)) === 'lost') return AGAIN;
    const connection = fetchConnection(ctx, deadline);
    const pending = await issueRenewal(ctx, claimed, csr, deadline);
    ctx.telemetry.count('CertificateRenewed');
    ctx.telemetry.log('info', 'Certificate renewed, pending confirmation', {
      serialNumber,
      certificateId: pending.rotation?.certificateId ?? null,
      key: csr.keyDescription,
    });
    return pendingGrant(pending, await connection);
  });
}

function pendingGrant(record: DeviceRecord, connection: Connection): CertificateGrant {
  const rotation = record.rotation;
  if (!awaitingConfirmation(rotation) || rotation.certificatePem === undefined || rotation.issuedAt === undefined) {
    throw new CvmError('InternalError', 'The device record is incomplete; ask an administrator to reset the device.');
  }
  return {
    serialNumber: record.serialNumber,
    thingName: record.thingName,
    certificateId: rotation.certificateId,
    certificateArn: rotation.certificateArn,
    certificatePem: rotation.certificatePem,
    caCertificatePem: connection.caCertificatePem,
    iotEndpoint: connection.iotEndpoint,
    issuedAt: rotation.issuedAt,
    confirmBy: rotation.confirmBy,
  };
}
