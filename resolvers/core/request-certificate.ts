/**
 * The device's one call: exchange a one-time token and a CSR for a certificate, exactly once.
 *
 * 1. Check the input and the CSR before touching the table (bad input changes nothing).
 * 2. Claim the device with a conditional write (PENDING → ISSUING with a lease we own).
 * 3. Create the certificate (inactive) and the thing, record the certificate on the item, attach the
 *    policy and the thing, activate the certificate, finalize with a conditional write (→ ACTIVE).
 * 4. On any failure after the claim: discard what was created and release the claim, so that no active
 *    certificate exists that the item does not record and the device can retry with its token.
 * 5. A claim whose lease expired (its request crashed or timed out) is taken over with a conditional write
 *    first, so the stale request can no longer finish, then cleaned up and released.
 */
import { randomUUID } from 'node:crypto';
import type { Caller, CreatedCertificate } from './ports.ts';
import { recordEvent, describeError } from './audit.ts';
import { certificateRefOf, discardCertificate, revokeCertificateInAuthority } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import { inspectCsr, type InspectedCsr } from './csr.ts';
import type { DeviceRecord } from './device.ts';
import { CERTIFICATE_FIELDS, leaseIsLive, nextRecord, tokenExpired } from './device-record.ts';
import { ConditionFailedError, CsrRejectedError, CvmError, ThrottledError, isCvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import { replaceConfirmed } from './store-writes.ts';
import { retryThrottled } from './throttle-retry.ts';
import { TOKEN_PATTERN, tokenMatches } from './token.ts';
import type { CertificateGrant } from '../../contract/api-types.ts';

export interface RequestCertificateInput {
  readonly serialNumber?: unknown;
  readonly registrationToken?: unknown;
  readonly csr?: unknown;
}

export type { CertificateGrant };

/** Rounds of read-decide-write before giving up on a device that keeps changing under us. */
const MAX_ROUNDS = 8;
/** Do not activate a certificate when the lease has less than this left: a takeover may be about to start. */
const LEASE_SAFETY_MS = 5_000;
const DEVICE: Caller = { kind: 'device' };

export async function requestCertificate(ctx: CoreContext, input: RequestCertificateInput): Promise<CertificateGrant> {
  const serialNumber = requireSerialNumber(input.serialNumber);
  const token = input.registrationToken;
  // A token of the wrong shape is a typing slip, not a guess: refuse it before reading anything, so it
  // neither counts as a wrong token nor tells whether the serial exists.
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
    throw new CvmError(
      'InvalidInput',
      'registrationToken must be the 43-character token your administrator gave for this device (letters, digits, - and _).',
    );
  }
  if (typeof input.csr !== 'string' || input.csr.length === 0) {
    throw new CvmError('InvalidInput', 'csr must be a PEM certificate signing request.');
  }
  const csr = await inspectCsr(input.csr, serialNumber);
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs;

  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const record = await ctx.store.get(serialNumber);
    const now = ctx.clock.now();
    // An unknown serial and a wrong token look the same, so the API cannot be used to list serials.
    if (record === undefined) throw invalidToken();
    if (record.locked) throw tooManyAttempts();
    if (!tokenMatches(token, record.tokenHash)) {
      const counted = await countWrongToken(ctx, record, now);
      if (counted === 'conflict') continue;
      throw counted.locked ? tooManyAttempts() : invalidToken();
    }

    switch (record.status) {
      case 'ACTIVE':
        if (record.publicKeyFingerprint === csr.publicKeyFingerprint) return grantFor(ctx, record, deadline);
        throw new CvmError(
          'AlreadyProvisioned',
          'This device already has an active certificate for another key. Retry with the original key, or ask an administrator to reset the device.',
        );
      case 'REVOKED':
        throw invalidToken();
      case 'ISSUING':
        if (leaseIsLive(record, now)) throw issuanceInProgress();
        // The request that held the claim crashed or timed out: take over, undo, release; then decide again.
        await takeOverAbandonedClaim(ctx, record, deadline);
        continue;
      case 'PENDING':
        if (tokenExpired(record, now)) throw invalidToken();
        break;
    }

    const claimed = nextRecord(record, now, {
      status: 'ISSUING',
      lease: {
        owner: randomUUID(),
        expiresAt: new Date(now.getTime() + ctx.settings.leaseSeconds * 1000).toISOString(),
        publicKeyFingerprint: csr.publicKeyFingerprint,
      },
    });
    try {
      await replaceConfirmed(ctx.store, claimed, record.version);
    } catch (error) {
      if (error instanceof ConditionFailedError) continue;
      throw error;
    }
    return issue(ctx, claimed, csr, deadline);
  }
  throw issuanceInProgress();
}

async function issue(
  ctx: CoreContext,
  claimed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
): Promise<CertificateGrant> {
  const { authority, store } = ctx;
  let current = claimed;
  let created: CreatedCertificate | undefined;
  try {
    const [certificate, thing] = await Promise.allSettled([
      retryThrottled(ctx, deadline, () => authority.createCertificate(csr.pem)),
      retryThrottled(ctx, deadline, () => authority.ensureThing(current.thingName, current.attributes ?? {})),
    ]);
    if (certificate.status === 'fulfilled') created = certificate.value;
    else throw certificate.reason;
    if (thing.status === 'rejected') throw thing.reason;
    const issued = created;

    // Recorded before it can be used: a crash from here on leaves a certificate the item points at.
    const recorded = nextRecord(current, ctx.clock.now(), {
      certificateId: issued.certificateId,
      certificateArn: issued.certificateArn,
      certificatePem: issued.certificatePem,
      publicKeyFingerprint: csr.publicKeyFingerprint,
    });
    await replaceConfirmed(store, recorded, current.version);
    current = recorded;

    await settleAll([
      retryThrottled(ctx, deadline, () => authority.attachPolicy(issued.certificateArn)),
      retryThrottled(ctx, deadline, () => authority.attachThingPrincipal(current.thingName, issued.certificateArn)),
    ]);
    requireLeaseTime(ctx, current);
    await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(issued.certificateId, 'ACTIVE'));

    const now = ctx.clock.now();
    const active = nextRecord(current, now, { status: 'ACTIVE', issuedAt: now.toISOString() }, ['lease']);
    await replaceConfirmed(store, active, current.version);
    current = active;
  } catch (error) {
    const outcome = await abandonIssuance(ctx, current, created, error, deadline);
    if (outcome instanceof CvmError) throw outcome;
    current = outcome;
  }

  ctx.telemetry.count('CertificateIssued');
  ctx.telemetry.log('info', 'Certificate issued', {
    serialNumber: current.serialNumber,
    certificateId: current.certificateId,
    key: csr.keyDescription,
  });
  await recordEvent(ctx, current.serialNumber, 'ISSUED', DEVICE, {
    certificateId: created?.certificateId ?? '',
    key: csr.keyDescription,
  });
  return grantFor(ctx, current, deadline);
}

/** Activation is the last irreversible step: never take it on a lease another request may be taking over. */
function requireLeaseTime(ctx: CoreContext, current: DeviceRecord): void {
  const expiresAt = Date.parse(current.lease?.expiresAt ?? '');
  if (!(expiresAt - ctx.clock.now().getTime() > LEASE_SAFETY_MS)) {
    throw new CvmError('IssuanceInProgress', 'This request ran out of time to issue the certificate; retry shortly.');
  }
}

/**
 * Undo a failed issuance and release the claim (when we still hold it). Returns the error to answer with,
 * or the device record when the issuance had in fact completed (its final write landed, the answer was lost).
 * If the certificate cannot be discarded now, it stays recorded on the item with an expired lease, so the next
 * request (or an admin reset) finishes the cleanup before anything else happens.
 */
async function abandonIssuance(
  ctx: CoreContext,
  current: DeviceRecord,
  created: CreatedCertificate | undefined,
  error: unknown,
  deadline: number,
): Promise<CvmError | DeviceRecord> {
  let latest: DeviceRecord | 'unknown' | undefined = 'unknown';
  try {
    latest = await ctx.store.get(current.serialNumber);
  } catch (readError) {
    ctx.telemetry.log('warn', 'Could not read the device after a failed issuance', {
      serialNumber: current.serialNumber,
      error: describeError(readError),
    });
  }
  const ours = created?.certificateId;
  if (latest !== 'unknown' && ours !== undefined && latest?.certificateId === ours && latest.status === 'ACTIVE') {
    return latest;
  }

  const cleanupDeadline = Math.max(deadline, ctx.clock.now().getTime()) + ctx.settings.compensationBudgetMs;
  // What the item says decides what happens to our certificate:
  // - a revoke that won the race recorded it and revoked it: it stays, revoked, as evidence (detached);
  // - the item cannot be read but records it (our write landed): leave it to whoever takes the claim over.
  const revokedByAdmin = latest !== 'unknown' && latest?.status === 'REVOKED' && latest.certificateId === ours;
  const recordedButUnknown = latest === 'unknown' && current.certificateId === ours;
  let discarded = true;
  if (created !== undefined && !recordedButUnknown) {
    const ref = { thingName: current.thingName, ...created };
    try {
      if (revokedByAdmin) await revokeCertificateInAuthority(ctx, cleanupDeadline, ref);
      else await discardCertificate(ctx, cleanupDeadline, ref);
    } catch (cleanupError) {
      discarded = false;
      ctx.telemetry.log('error', 'Could not discard a certificate after a failed issuance; the next request retries', {
        serialNumber: current.serialNumber,
        certificateId: created.certificateId,
        error: describeError(cleanupError),
      });
    }
  }

  if (latest !== 'unknown') {
    const lease = latest?.lease;
    if (latest?.status === 'ISSUING' && lease !== undefined && lease.owner === current.lease?.owner) {
      try {
        await releaseClaim(ctx, latest, discarded ? undefined : created);
      } catch (releaseError) {
        ctx.telemetry.log('error', 'Could not release the claim after a failed issuance; it expires with its lease', {
          serialNumber: current.serialNumber,
          error: describeError(releaseError),
        });
      }
    }
  }

  const answer = answerFor(error, current, latest, created !== undefined && !discarded);
  ctx.telemetry.log(answer.errorType === 'InternalError' ? 'error' : 'warn', 'Certificate issuance failed', {
    serialNumber: current.serialNumber,
    errorType: answer.errorType,
    error: describeError(error),
  });
  await recordEvent(ctx, current.serialNumber, 'ISSUE_FAILED', DEVICE, { errorType: answer.errorType });
  return answer;
}

/**
 * Give the claim back: PENDING with no certificate, or, when a certificate could not be discarded, still
 * ISSUING with that certificate recorded and the lease expired, so that the next request cleans up first.
 */
async function releaseClaim(
  ctx: CoreContext,
  held: DeviceRecord,
  leftOver: Pick<CreatedCertificate, 'certificateId' | 'certificateArn'> | undefined,
): Promise<void> {
  const now = ctx.clock.now();
  const released =
    leftOver === undefined
      ? nextRecord(held, now, { status: 'PENDING' }, ['lease', ...CERTIFICATE_FIELDS])
      : nextRecord(held, now, {
          ...(held.lease === undefined ? {} : { lease: { ...held.lease, expiresAt: now.toISOString() } }),
          certificateId: leftOver.certificateId,
          certificateArn: leftOver.certificateArn,
        });
  await ctx.store.replace(released, held.version);
}

/**
 * The claim on `stale` expired with its request gone (crashed, timed out). Take it over with a conditional
 * write first — from then on the stale request cannot write again, so it cannot finish behind our back —
 * then discard the certificate it recorded and release the device to PENDING.
 */
async function takeOverAbandonedClaim(ctx: CoreContext, stale: DeviceRecord, deadline: number): Promise<void> {
  const now = ctx.clock.now();
  const takeover = nextRecord(stale, now, {
    lease: {
      owner: randomUUID(),
      expiresAt: new Date(now.getTime() + ctx.settings.leaseSeconds * 1000).toISOString(),
      publicKeyFingerprint: stale.lease?.publicKeyFingerprint ?? '',
    },
  });
  try {
    await replaceConfirmed(ctx.store, takeover, stale.version);
  } catch (error) {
    if (error instanceof ConditionFailedError) return;
    throw error;
  }
  const ref = certificateRefOf(takeover);
  if (ref !== undefined) {
    ctx.telemetry.log('warn', 'Cleaning up after an abandoned issuance', {
      serialNumber: stale.serialNumber,
      certificateId: ref.certificateId,
    });
    try {
      await discardCertificate(ctx, deadline + ctx.settings.compensationBudgetMs, ref);
    } catch (error) {
      await releaseClaim(ctx, takeover, ref).catch(() => undefined);
      throw error;
    }
  }
  try {
    await releaseClaim(ctx, takeover, undefined);
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
}

function answerFor(
  error: unknown,
  current: DeviceRecord,
  latest: DeviceRecord | 'unknown' | undefined,
  certificateLeftOver: boolean,
): CvmError {
  // Whatever failed, if the claim is no longer ours the device's state explains the failure better: an admin
  // revoked or reset the device while we issued (AWS IoT then refuses to activate a revoked certificate, say),
  // or our lease ran out and another request took over.
  const claimLost = latest !== 'unknown' && latest?.lease?.owner !== current.lease?.owner;
  if (claimLost || error instanceof ConditionFailedError) {
    if (latest === undefined || latest === 'unknown' || latest.status === 'REVOKED' || latest.status === 'PENDING') {
      return new CvmError(
        'InvalidRegistrationToken',
        'The device was revoked or reset while its certificate was being issued; ask your administrator for a new token.',
      );
    }
    return issuanceInProgress();
  }
  if (isCvmError(error)) return error;
  if (error instanceof CsrRejectedError) {
    return new CvmError('InvalidCsr', `${error.message.replace(/\.$/, '')}. Make a new CSR with an accepted key.`, {
      cause: error,
    });
  }
  if (error instanceof ThrottledError) {
    return new CvmError('Throttled', 'AWS is throttling requests right now; retry in a few seconds.', { cause: error });
  }
  return new CvmError(
    'InternalError',
    certificateLeftOver
      ? 'The certificate could not be issued; retry with the same token (cleanup of the attempt finishes first).'
      : 'The certificate could not be issued; nothing was kept. Retry with the same token.',
    { cause: error },
  );
}

/**
 * A wrong token for a device that is waiting to enroll counts towards the lock. For a device in any other
 * state the token could not enroll it anyway, so nothing is written to the device: a wrong guess must not
 * disturb an issuance under way (its conditional writes would lose) nor lock out an enrolled device's retry.
 * The attempt still goes into the audit trail.
 */
async function countWrongToken(
  ctx: CoreContext,
  record: DeviceRecord,
  now: Date,
): Promise<{ locked: boolean } | 'conflict'> {
  if (record.status !== 'PENDING') {
    await recordEvent(ctx, record.serialNumber, 'TOKEN_FAILED', DEVICE, { status: record.status });
    return { locked: false };
  }
  const failedAttempts = record.failedAttempts + 1;
  const locked = failedAttempts >= ctx.settings.maxFailedAttempts;
  try {
    await replaceConfirmed(ctx.store, nextRecord(record, now, { failedAttempts, locked }), record.version);
  } catch (error) {
    if (error instanceof ConditionFailedError) return 'conflict';
    throw error;
  }
  await recordEvent(ctx, record.serialNumber, 'TOKEN_FAILED', DEVICE, { failedAttempts });
  if (locked) await recordEvent(ctx, record.serialNumber, 'LOCKED', DEVICE, { failedAttempts });
  return { locked };
}

async function grantFor(ctx: CoreContext, record: DeviceRecord, deadline: number): Promise<CertificateGrant> {
  const { certificateId, certificateArn, certificatePem, issuedAt } = record;
  if (!certificateId || !certificateArn || !certificatePem || !issuedAt) {
    throw new CvmError('InternalError', 'The device record is incomplete; ask an administrator to reset the device.');
  }
  const connection = await retryThrottled(ctx, deadline, () => ctx.authority.connectionInfo());
  return {
    serialNumber: record.serialNumber,
    thingName: record.thingName,
    certificateId,
    certificateArn,
    certificatePem,
    caCertificatePem: connection.caCertificatePem,
    iotEndpoint: connection.iotEndpoint,
    issuedAt,
  };
}

/** Wait for every call (so cleanup never races a call still in flight), then fail with the first failure. */
async function settleAll(calls: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

function invalidToken(): CvmError {
  return new CvmError(
    'InvalidRegistrationToken',
    'The serial number and registration token do not match an enrollable device. Check both, or ask your administrator for a new token.',
  );
}

function tooManyAttempts(): CvmError {
  return new CvmError(
    'TooManyAttempts',
    'This device is locked after too many wrong registration tokens; ask your administrator to reset it.',
  );
}

function issuanceInProgress(): CvmError {
  return new CvmError(
    'IssuanceInProgress',
    'A certificate for this device is being issued by another request; retry in a few seconds.',
  );
}
