/**
 * The device's one call: exchange a one-time token and a CSR for a certificate, exactly once.
 *
 * 1. Check the input and the CSR before touching the table (bad input changes nothing): enrollment-input.
 * 2. Read the device and decide: a wrong token is counted and answered alike for every case (wrong-token);
 *    an expired claim is taken over and cleaned up first (take-over); an ACTIVE device retried with the same key
 *    gets its certificate again (grant).
 * 3. Claim the device with a compare-and-swap (PENDING → ISSUING with a lease we own).
 * 4. Issue, and on any failure compensate, so that no active certificate exists that the item does not record
 *    and the device can retry with its token (issue, compensate).
 * The states and transitions are those of device-lifecycle; every write is a compare-and-swap on its version.
 */
import { randomUUID } from 'node:crypto';
import type { CoreContext } from './context.ts';
import { claim, isRefusal, leaseIsLive, tokenExpired } from './device-lifecycle.ts';
import { alreadyProvisioned, invalidToken, issuanceInProgress, tooManyAttempts } from './enrollment/answers.ts';
import { parseEnrollmentInput, type RequestCertificateInput } from './enrollment/enrollment-input.ts';
import { grantFor, recordIssued, type CertificateGrant } from './enrollment/grant.ts';
import { issue } from './enrollment/issue.ts';
import { requirePinnedKey } from './enrollment/pinned-key.ts';
import { takeOverAbandonedClaim } from './enrollment/take-over.ts';
import { answerWrongToken } from './enrollment/wrong-token.ts';
import { AGAIN, inRounds } from './retry-rounds.ts';
import { swap } from './store-writes.ts';
import { tokenMatches } from './token.ts';

export type { CertificateGrant } from './enrollment/grant.ts';
export type { RequestCertificateInput } from './enrollment/enrollment-input.ts';

export async function requestCertificate(ctx: CoreContext, input: RequestCertificateInput): Promise<CertificateGrant> {
  const { serialNumber, token, csr } = await parseEnrollmentInput(input);
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs;

  return inRounds(async (): Promise<CertificateGrant | typeof AGAIN> => {
    const record = await ctx.store.get(serialNumber);
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
        if (record.publicKeyFingerprint !== csr.publicKeyFingerprint) throw alreadyProvisioned();
        // The device lost the answer (or the process died before the ISSUED event): same certificate, same event.
        await recordIssued(ctx, record, csr.keyDescription);
        return grantFor(ctx, record, deadline);
      }
      case 'REVOKED':
        throw invalidToken();
      case 'ISSUING':
        if (leaseIsLive(record, now)) throw issuanceInProgress();
        await takeOverAbandonedClaim(ctx, record, deadline);
        return AGAIN;
      case 'PENDING':
        if (tokenExpired(record, now)) throw invalidToken();
        break;
    }

    const claimed = claim(record, {
      now,
      owner: randomUUID(),
      leaseSeconds: ctx.settings.leaseSeconds,
      publicKeyFingerprint: csr.publicKeyFingerprint,
    });
    if (isRefusal(claimed) || (await swap(ctx.store, claimed)) === 'lost') return AGAIN;
    const active = await issue(ctx, claimed, csr, deadline);
    ctx.telemetry.count('CertificateIssued');
    ctx.telemetry.log('info', 'Certificate issued', {
      serialNumber,
      certificateId: active.certificateId,
      key: csr.keyDescription,
    });
    await recordIssued(ctx, active, csr.keyDescription);
    return grantFor(ctx, active, deadline);
  });
}
