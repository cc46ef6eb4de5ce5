/**
 * Admins cut a device off (revoke) or let it in again (reset). Both decide with conditional writes on
 * the device item, then bring AWS IoT in line; both are safe to repeat, and repeating one finishes the
 * AWS IoT side if an earlier attempt stopped half-way.
 */
import type { Caller } from './ports.ts';
import { recordEvent } from './audit.ts';
import { certificateRefOf, revokeCertificateInAuthority } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import { CERTIFICATE_FIELDS, nextRecord } from './device-record.ts';
import { deviceView, type DeviceView } from './device-view.ts';
import { ConditionFailedError, CvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import { replaceConfirmed } from './store-writes.ts';
import { tokenTtlSeconds, type DeviceRegistration } from './register-devices.ts';
import { generateToken } from './token.ts';

const MAX_REASON_LENGTH = 256;
const MAX_ROUNDS = 8;
const RESET_REASON = 'Reset by an administrator';

export async function revokeCertificate(
  ctx: CoreContext,
  args: { serialNumber?: unknown; reason?: unknown },
  caller: Caller,
): Promise<DeviceView> {
  const serialNumber = requireSerialNumber(args.serialNumber);
  const reason = optionalReason(args.reason);
  return deviceView(await revoke(ctx, serialNumber, reason, caller));
}

/**
 * Reset: revoke whatever certificate the device has (as `revokeCertificate` does), then give it a new
 * token, clear the lock and make it PENDING. The old token dies with the first step.
 */
export async function resetDevice(
  ctx: CoreContext,
  args: { serialNumber?: unknown; tokenTtlSeconds?: unknown },
  caller: Caller,
): Promise<DeviceRegistration> {
  const serialNumber = requireSerialNumber(args.serialNumber);
  const ttl = tokenTtlSeconds(ctx, args.tokenTtlSeconds);
  await revoke(ctx, serialNumber, RESET_REASON, caller, 'reset');

  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const record = await requireDevice(ctx, serialNumber);
    if (record.status !== 'REVOKED') {
      // Someone reset it between our two steps; revoke again so we never hand out a second live token.
      await revoke(ctx, serialNumber, RESET_REASON, caller, 'reset');
      continue;
    }
    const now = ctx.clock.now();
    const { token, tokenHash } = generateToken(ctx.random);
    const tokenExpiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
    const pending = nextRecord(
      record,
      now,
      { status: 'PENDING', tokenHash, tokenExpiresAt, failedAttempts: 0, locked: false },
      ['lease', 'issuedAt', 'revokedAt', 'revocationReason', ...CERTIFICATE_FIELDS],
    );
    try {
      await replaceConfirmed(ctx.store, pending, record.version);
    } catch (error) {
      if (error instanceof ConditionFailedError) continue;
      throw error;
    }
    await recordEvent(ctx, serialNumber, 'RESET', caller, { tokenExpiresAt });
    return { registrationToken: token, tokenExpiresAt, device: deviceView(pending) };
  }
  throw busy();
}

/**
 * Make the device REVOKED (token dead, claim void), then revoke its certificate in the authority.
 * As the first step of a reset, a device without a certificate gets no REVOKED event: RESET says it all.
 */
async function revoke(
  ctx: CoreContext,
  serialNumber: string,
  reason: string | undefined,
  caller: Caller,
  purpose: 'revoke' | 'reset' = 'revoke',
): Promise<DeviceRecord> {
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs + ctx.settings.compensationBudgetMs;
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const record = await requireDevice(ctx, serialNumber);
    let revoked = record;
    const firstTime = record.status !== 'REVOKED';
    if (firstTime) {
      const now = ctx.clock.now();
      revoked = nextRecord(
        record,
        now,
        {
          status: 'REVOKED',
          revokedAt: now.toISOString(),
          ...(reason === undefined ? {} : { revocationReason: reason }),
        },
        ['tokenHash', 'tokenExpiresAt', 'lease', ...(reason === undefined ? (['revocationReason'] as const) : [])],
      );
      try {
        await replaceConfirmed(ctx.store, revoked, record.version);
      } catch (error) {
        if (error instanceof ConditionFailedError) continue;
        throw error;
      }
    }
    const ref = certificateRefOf(revoked);
    if (firstTime && (purpose === 'revoke' || ref !== undefined)) {
      // Recorded as soon as the decision stands, before AWS IoT is told: a failure there is retried by
      // repeating the call, and the trail must not depend on that.
      ctx.telemetry.log('info', 'Device revoked', { serialNumber, certificateId: ref?.certificateId ?? null });
      await recordEvent(ctx, serialNumber, 'REVOKED', caller, {
        ...(ref === undefined ? {} : { certificateId: ref.certificateId }),
        ...(reason === undefined ? {} : { reason }),
        previousStatus: record.status,
      });
    }
    // Also on a repeat: finishes the job if an earlier attempt stopped before AWS IoT was told.
    if (ref !== undefined) await revokeCertificateInAuthority(ctx, deadline, ref);
    return revoked;
  }
  throw busy();
}

async function requireDevice(ctx: CoreContext, serialNumber: string): Promise<DeviceRecord> {
  const record = await ctx.store.get(serialNumber);
  if (record === undefined) {
    throw new CvmError('DeviceNotFound', `No device with serial number ${serialNumber} is registered.`);
  }
  return record;
}

function optionalReason(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > MAX_REASON_LENGTH) {
    throw new CvmError('InvalidInput', `reason must be a string of at most ${MAX_REASON_LENGTH} characters.`);
  }
  return value;
}

function busy(): CvmError {
  return new CvmError('IssuanceInProgress', 'The device keeps changing under this request; retry in a few seconds.');
}
