/**
 * The device's one call: exchange a one-time token and a CSR for a certificate, exactly once.
 *
 * 1. Check the input and the CSR before touching the table (bad input changes nothing).
 * 2. Claim the device with a conditional write (PENDING → ISSUING with a lease we own).
 * 3. Create the certificate (inactive) and the thing, record the certificate on the item, attach the
 *    policy and the thing, activate the certificate, finalize with a conditional write (→ ACTIVE).
 * 4. On any failure after the claim: discard what was created and release the claim, so that no active
 *    certificate exists that the item does not record and the device can retry with its token.
 */
import { randomUUID } from 'node:crypto';
import type { Caller, CreatedCertificate } from '../ports.ts';
import { recordEvent, describeError } from './audit.ts';
import { discardCertificate, certificateRefOf } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import { inspectCsr, type InspectedCsr } from './csr.ts';
import type { DeviceRecord } from './device.ts';
import { CERTIFICATE_FIELDS, leaseIsLive, nextRecord, tokenExpired } from './device-record.ts';
import { ConditionFailedError, CvmError, isCvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import { replaceConfirmed } from './store-writes.ts';
import { retryThrottled } from './throttle-retry.ts';
import { tokenMatches } from './token.ts';

export interface RequestCertificateInput {
  readonly serialNumber?: unknown;
  readonly registrationToken?: unknown;
  readonly csr?: unknown;
}

export interface CertificateGrant {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly caCertificatePem: string;
  readonly iotEndpoint: string | null;
  readonly issuedAt: string;
}

/** Rounds of read-decide-write before giving up on a device that keeps changing under us. */
const MAX_ROUNDS = 8;
const MAX_TOKEN_LENGTH = 512;
const DEVICE: Caller = { kind: 'device' };

export async function requestCertificate(ctx: CoreContext, input: RequestCertificateInput): Promise<CertificateGrant> {
  const serialNumber = requireSerialNumber(input.serialNumber);
  const token = input.registrationToken;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw new CvmError('InvalidInput', 'registrationToken must be the token your administrator gave for this device.');
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
        if (tokenExpired(record, now)) throw invalidToken();
        // The request that held the claim crashed or timed out: undo what it recorded, then claim afresh.
        await discardRecordedCertificate(ctx, record, deadline);
        break;
      case 'PENDING':
        if (tokenExpired(record, now)) throw invalidToken();
        break;
    }

    const claimed = nextRecord(
      record,
      now,
      {
        status: 'ISSUING',
        lease: {
          owner: randomUUID(),
          expiresAt: new Date(now.getTime() + ctx.settings.leaseSeconds * 1000).toISOString(),
          publicKeyFingerprint: csr.publicKeyFingerprint,
        },
      },
      CERTIFICATE_FIELDS,
    );
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
    await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(issued.certificateId, 'ACTIVE'));

    const now = ctx.clock.now();
    const active = nextRecord(current, now, { status: 'ACTIVE', issuedAt: now.toISOString() }, ['lease']);
    await replaceConfirmed(store, active, current.version);
    current = active;
  } catch (error) {
    throw await abandonIssuance(ctx, current, created, error, deadline);
  }

  ctx.telemetry.count('CertificateIssued');
  ctx.telemetry.log('info', 'Certificate issued', {
    serialNumber: current.serialNumber,
    certificateId: current.certificateId,
    key: csr.keyDescription,
  });
  await recordEvent(ctx, current.serialNumber, 'ISSUED', DEVICE, {
    certificateId: created.certificateId,
    key: csr.keyDescription,
  });
  return grantFor(ctx, current, deadline);
}

/**
 * Undo a failed issuance and release the claim (when we still hold it). Returns the error to answer with.
 * If the certificate cannot be discarded now, it stays recorded on the item with an expired lease, so
 * the next request (or an admin reset) finishes the cleanup before anything else happens.
 */
async function abandonIssuance(
  ctx: CoreContext,
  current: DeviceRecord,
  created: CreatedCertificate | undefined,
  error: unknown,
  deadline: number,
): Promise<CvmError> {
  let latest: DeviceRecord | 'unknown' | undefined = 'unknown';
  try {
    latest = await ctx.store.get(current.serialNumber);
  } catch (readError) {
    ctx.telemetry.log('warn', 'Could not read the device after a failed issuance', {
      serialNumber: current.serialNumber,
      error: describeError(readError),
    });
  }

  // A revoke that won the race has recorded and revoked our certificate: it stays, revoked, as evidence.
  const keptByRevocation =
    latest !== 'unknown' && latest?.status === 'REVOKED' && latest.certificateId === created?.certificateId;
  const cleanupDeadline = Math.max(deadline, ctx.clock.now().getTime()) + ctx.settings.compensationBudgetMs;
  let discarded = true;
  if (created !== undefined && !keptByRevocation) {
    try {
      await discardCertificate(ctx, cleanupDeadline, { thingName: current.thingName, ...created });
    } catch (cleanupError) {
      discarded = false;
      ctx.telemetry.log('error', 'Could not discard a certificate after a failed issuance; the next request retries', {
        serialNumber: current.serialNumber,
        certificateId: created.certificateId,
        error: describeError(cleanupError),
      });
    }
  }

  try {
    if (latest === 'unknown') latest = await ctx.store.get(current.serialNumber);
    const lease = latest?.lease;
    if (latest?.status === 'ISSUING' && lease !== undefined && lease.owner === current.lease?.owner) {
      const now = ctx.clock.now();
      const released =
        discarded || created === undefined
          ? nextRecord(latest, now, { status: 'PENDING' }, ['lease', ...CERTIFICATE_FIELDS])
          : nextRecord(latest, now, {
              lease: { ...lease, expiresAt: now.toISOString() },
              certificateId: created.certificateId,
              certificateArn: created.certificateArn,
            });
      await ctx.store.replace(released, latest.version);
    }
  } catch (releaseError) {
    ctx.telemetry.log('error', 'Could not release the claim after a failed issuance; it expires with its lease', {
      serialNumber: current.serialNumber,
      error: describeError(releaseError),
    });
  }

  const answer = answerFor(error, current, latest);
  ctx.telemetry.log(answer.errorType === 'InternalError' ? 'error' : 'warn', 'Certificate issuance failed', {
    serialNumber: current.serialNumber,
    errorType: answer.errorType,
    error: describeError(error),
  });
  await recordEvent(ctx, current.serialNumber, 'ISSUE_FAILED', DEVICE, { errorType: answer.errorType });
  return answer;
}

function answerFor(error: unknown, current: DeviceRecord, latest: DeviceRecord | 'unknown' | undefined): CvmError {
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
  return new CvmError(
    'InternalError',
    'The certificate could not be issued; nothing was kept. Retry with the same token.',
    {
      cause: error,
    },
  );
}

async function discardRecordedCertificate(ctx: CoreContext, record: DeviceRecord, deadline: number): Promise<void> {
  const ref = certificateRefOf(record);
  if (ref === undefined) return;
  ctx.telemetry.log('warn', 'Cleaning up after an abandoned issuance', {
    serialNumber: record.serialNumber,
    certificateId: ref.certificateId,
  });
  await discardCertificate(ctx, deadline + ctx.settings.compensationBudgetMs, ref);
}

async function countWrongToken(
  ctx: CoreContext,
  record: DeviceRecord,
  now: Date,
): Promise<{ locked: boolean } | 'conflict'> {
  const failedAttempts = record.failedAttempts + 1;
  const locked = failedAttempts >= ctx.settings.maxFailedAttempts;
  try {
    await ctx.store.replace(nextRecord(record, now, { failedAttempts, locked }), record.version);
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
