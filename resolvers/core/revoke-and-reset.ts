/**
 * Admins cut a device off (revoke) or let it in again (reset). Both decide with compare-and-swap writes on
 * the device item (the transitions of device-lifecycle), then bring the authority in line; both are safe to
 * repeat, and repeating one finishes the authority side if an earlier attempt stopped half-way.
 */
import type { Caller } from './ports.ts';
import { recordEvent } from './audit.ts';
import { certificateRefOf, revokeCertificateInAuthority } from './certificate-lifecycle.ts';
import type { CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import { isRefusal, reset, revoke as revokeTransition } from './device-lifecycle.ts';
import { deviceView, type DeviceView } from './device-view.ts';
import { CvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import { AGAIN, inRounds } from './retry-rounds.ts';
import { swap } from './store-writes.ts';
import { optionalPublicKeyPin, tokenTtlSeconds, type DeviceRegistration } from './register-devices.ts';
import { issueToken } from './token.ts';
import { retireCertificates } from './rotation/retire.ts';

const MAX_REASON_LENGTH = 256;
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
 * token, clear the lock and make it PENDING. The old token dies with the first step. A pinned key stays pinned
 * unless `publicKey` pins another (checked before anything changes).
 */
export async function resetDevice(
  ctx: CoreContext,
  args: { serialNumber?: unknown; tokenTtlSeconds?: unknown; publicKey?: unknown },
  caller: Caller,
): Promise<DeviceRegistration> {
  const serialNumber = requireSerialNumber(args.serialNumber);
  const ttl = tokenTtlSeconds(ctx, args.tokenTtlSeconds);
  const publicKeyPin = optionalPublicKeyPin(args.publicKey);
  await revoke(ctx, serialNumber, RESET_REASON, caller, 'reset');

  return inRounds(async () => {
    const record = await requireDevice(ctx, serialNumber);
    if (record.status !== 'REVOKED' || (record.retiring?.length ?? 0) > 0) {
      // Someone reset it between our two steps, or a certificate is still to revoke: revoke again, so we never
      // hand out a second live token and never forget a certificate.
      await revoke(ctx, serialNumber, RESET_REASON, caller, 'reset');
      return AGAIN;
    }
    const now = ctx.clock.now();
    const { token, tokenHash, tokenExpiresAt } = issueToken(ctx.random, now, ttl);
    const pending = reset(record, now, { tokenHash, tokenExpiresAt }, publicKeyPin);
    if (isRefusal(pending) || (await swap(ctx.store, pending)) === 'lost') return AGAIN;
    await recordEvent(ctx, serialNumber, 'RESET', caller, {
      tokenExpiresAt,
      ...(publicKeyPin === undefined ? {} : { publicKeyPin }),
    });
    return { registrationToken: token, tokenExpiresAt, device: deviceView(pending) };
  });
}

/**
 * Make the device REVOKED (token dead, claim void, a rotation's new certificate retiring), then revoke its
 * certificates in the authority.
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
  return inRounds(async () => {
    const record = await requireDevice(ctx, serialNumber);
    const firstTime = record.status !== 'REVOKED';
    let revoked = record;
    if (firstTime) {
      const transition = revokeTransition(record, ctx.clock.now(), reason);
      if (isRefusal(transition) || (await swap(ctx.store, transition)) === 'lost') return AGAIN;
      revoked = transition;
    }
    const ref = certificateRefOf(revoked);
    const pendingCertificateId = revoked.retiring?.find((entry) => entry.reason === 'REVOKED')?.certificateId;
    if (purpose === 'revoke' || ref !== undefined) {
      // Recorded as soon as the decision stands, before the authority is told: a failure there is retried by
      // repeating the call, and the trail must not depend on that. Keyed by the revocation's time, so a repeat
      // writes it only if the process died before it did.
      if (firstTime) {
        ctx.telemetry.log('info', 'Device revoked', { serialNumber, certificateId: ref?.certificateId ?? null });
      }
      const revokedAt = revoked.revokedAt ?? ctx.clock.now().toISOString();
      await recordEvent(
        ctx,
        serialNumber,
        'REVOKED',
        caller,
        {
          ...(ref === undefined ? {} : { certificateId: ref.certificateId }),
          ...(pendingCertificateId === undefined ? {} : { pendingCertificateId }),
          ...(revoked.revocationReason === undefined ? {} : { reason: revoked.revocationReason }),
          ...(firstTime ? { previousStatus: record.status } : {}),
        },
        { at: revokedAt, onceKey: `REVOKED#${revokedAt}` },
      );
    }
    // Also on a repeat: finishes the job if an earlier attempt stopped before the authority was told. A rotation's
    // new certificate (and any other on its way out) is revoked alongside.
    const [, retired] = await Promise.all([
      ref === undefined ? undefined : revokeCertificateInAuthority(ctx, deadline, ref),
      retireCertificates(ctx, revoked, deadline, caller),
    ]);
    return retired === 'lost' ? AGAIN : retired;
  });
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
