/**
 * The device's one call: exchange a one-time token and a CSR for a certificate, exactly once.
 *
 * 1. Check the input and the CSR before touching the table (bad input changes nothing): enrollment-input.
 * 2. Claim the device with one conditional write, without reading it first (PENDING → ISSUING with a lease we
 *    own, only for the right, unexpired token of an unlocked device).
 * 3. Only when the claim is refused, read the device to explain why: a wrong token is counted and answered alike
 *    for every case (wrong-token); an ACTIVE device retried with the same key gets its certificate again (grant);
 *    a suspended claim retried with the same key is resumed from its recorded step; an expired claim is taken
 *    over and cleaned up first (take-over).
 * 4. Issue, and on any failure compensate, so that no active certificate exists that the item does not record
 *    and the device can retry with its token (issue, compensate).
 * The states and transitions are those of device-lifecycle; every write is a conditional write.
 */
import { randomUUID } from 'node:crypto';
import type { CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import {
  claimWithoutReading,
  isRefusal,
  leaseIsLive,
  resumableBy,
  resume,
  rotationDueAt,
  tokenExpired,
} from './device-lifecycle.ts';
import { describeError } from './audit.ts';
import { settleRotation } from './rotation/retire.ts';
import { alreadyProvisioned, invalidToken, issuanceInProgress, tooManyAttempts } from './enrollment/answers.ts';
import { parseEnrollmentInput, type RequestCertificateInput } from './enrollment/enrollment-input.ts';
import { fetchConnection, grantFor, recordIssued, type CertificateGrant } from './enrollment/grant.ts';
import { issue, resumeIssuance } from './enrollment/issue.ts';
import { requirePinnedKey } from './enrollment/pinned-key.ts';
import { takeOverAbandonedClaim } from './enrollment/take-over.ts';
import { answerWrongToken } from './enrollment/wrong-token.ts';
import type { InspectedCsr } from './csr.ts';
import { AGAIN, inRounds } from './retry-rounds.ts';
import { swap } from './store-writes.ts';
import { hashToken, tokenMatches } from './token.ts';

export type { CertificateGrant } from './enrollment/grant.ts';
export type { RequestCertificateInput } from './enrollment/enrollment-input.ts';

export async function requestCertificate(ctx: CoreContext, input: RequestCertificateInput): Promise<CertificateGrant> {
  const { serialNumber, token, csr } = await parseEnrollmentInput(input);
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs;
  const tokenHash = hashToken(token);

  return inRounds(async (): Promise<CertificateGrant | typeof AGAIN> => {
    const owner = randomUUID();
    const terms = { owner, leaseSeconds: ctx.settings.leaseSeconds, publicKeyFingerprint: csr.publicKeyFingerprint };
    const claimed = await claimOrExplain(
      ctx,
      serialNumber,
      claimWithoutReading({ ...terms, now: ctx.clock.now(), tokenHash }),
    );
    if (claimed.outcome === 'claimed') return issueAndGrant(ctx, claimed.record, csr, deadline, 'fresh');

    const record = claimed.record;
    const now = ctx.clock.now();
    if (record === undefined || !tokenMatches(token, record.tokenHash)) {
      const answer = await answerWrongToken(ctx, serialNumber, record);
      if (answer === AGAIN) return AGAIN;
      throw answer;
    }
    if (record.locked) throw tooManyAttempts();
    requirePinnedKey(record, csr);

    switch (record.status) {
      case 'ACTIVE': {
        // A call that touches the device finishes the rotation work that is due (a rollback past its deadline).
        await settleDueRotation(ctx, record, now, deadline);
        if (record.publicKeyFingerprint !== csr.publicKeyFingerprint) throw alreadyProvisioned();
        // The device lost the answer (or the process died before the ISSUED event): same certificate, same event.
        const [, grant] = await Promise.all([
          recordIssued(ctx, record, csr.keyDescription),
          grantFor(ctx, record, fetchConnection(ctx, deadline)),
        ]);
        return grant;
      }
      case 'REVOKED':
        throw invalidToken();
      case 'ISSUING': {
        // Our own claim landed although its answer was lost: carry on with it.
        if (record.lease?.owner === owner) return issueAndGrant(ctx, record, csr, deadline, 'fresh');
        if (resumableBy(record, csr.publicKeyFingerprint, now)) {
          const resumed = resume(record, { ...terms, now });
          if (isRefusal(resumed) || (await swap(ctx.store, resumed)) === 'lost') return AGAIN;
          return issueAndGrant(ctx, resumed, csr, deadline, 'resumed');
        }
        if (leaseIsLive(record, now)) throw issuanceInProgress();
        await takeOverAbandonedClaim(ctx, record, deadline);
        return AGAIN;
      }
      case 'PENDING':
        if (tokenExpired(record, now)) throw invalidToken();
        // The device changed between the refused claim and the read: claim again.
        return AGAIN;
    }
  });
}

/** Settle rotation work due on this device; a failure is left for the sweep, never the enrollment's answer. */
async function settleDueRotation(ctx: CoreContext, record: DeviceRecord, now: Date, deadline: number): Promise<void> {
  const due = rotationDueAt(record);
  if (due === undefined || Date.parse(due.at) > now.getTime()) return;
  try {
    await settleRotation(ctx, record, deadline, { kind: 'device' });
  } catch (error) {
    ctx.telemetry.log('warn', 'Could not settle a rotation due on this device; the sweep will', {
      serialNumber: record.serialNumber,
      error: describeError(error),
    });
  }
}

type ClaimOutcome =
  | { readonly outcome: 'claimed'; readonly record: DeviceRecord }
  | { readonly outcome: 'refused'; readonly record: DeviceRecord | undefined };

/**
 * Claim in one conditional write; read the device only when refused, to explain the refusal. A claim whose
 * answer was lost may have landed: the read then shows our lease, and the read's answer decides.
 */
async function claimOrExplain(
  ctx: CoreContext,
  serialNumber: string,
  blindClaim: ReturnType<typeof claimWithoutReading>,
): Promise<ClaimOutcome> {
  let failed: { readonly error: unknown } | undefined;
  try {
    const claimed = await ctx.store.claim(serialNumber, blindClaim);
    if (claimed !== undefined) return { outcome: 'claimed', record: claimed };
  } catch (error) {
    failed = { error };
  }
  const record = await ctx.store.get(serialNumber);
  if (failed !== undefined && record?.lease?.owner !== blindClaim.lease.owner) throw failed.error;
  return { outcome: 'refused', record };
}

async function issueAndGrant(
  ctx: CoreContext,
  claimed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
  how: 'fresh' | 'resumed',
): Promise<CertificateGrant> {
  // Fetched alongside the issuance (cached after the first), so that it adds no round trip to the answer.
  const connection = fetchConnection(ctx, deadline);
  const active =
    how === 'fresh' ? await issue(ctx, claimed, csr, deadline) : await resumeIssuance(ctx, claimed, csr, deadline);
  ctx.telemetry.count('CertificateIssued');
  ctx.telemetry.log('info', how === 'fresh' ? 'Certificate issued' : 'Certificate issued, resuming a suspended claim', {
    serialNumber: active.serialNumber,
    certificateId: active.certificateId,
    key: csr.keyDescription,
  });
  return grantFor(ctx, active, connection);
}
