/**
 * The end of a rotation, in two steps so that a crash between them is finished later: a compare-and-swap writes
 * the decision (the certificate on its way out is listed in `retiring`), then the certificate is revoked and
 * detached in the authority, its event written, and the entry dropped. `settleRotation` is what every call that
 * touches a device (renew, confirm, revoke, the sweep) runs first: it finishes retirements, settles an abandoned
 * issuance and rolls back a rotation past its deadline.
 */
import { actorOf } from '../audit.ts';
import { revokeCertificateInAuthority } from '../certificate-lifecycle.ts';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord, RetirementReason, RetiringCertificate } from '../device.ts';
import {
  confirmationOverdue,
  isRefusal,
  renewalAbandoned,
  retired,
  rollBackRotation,
  settleAbandonedRenewal,
  type Transition,
} from '../device-lifecycle.ts';
import type { Caller } from '../ports.ts';
import { swap } from '../store-writes.ts';

/** What settling did: nothing was due, the device is settled now, or it changed under us (read it again). */
export type Settled = { readonly outcome: 'nothing due' | 'settled'; readonly record: DeviceRecord } | 'lost';

/**
 * Finish whatever rotation work is due on this device. Throws when the authority cannot be reached (the decision
 * stays written; the next call or the sweep finishes it).
 */
export async function settleRotation(
  ctx: CoreContext,
  record: DeviceRecord,
  deadline: number,
  caller: Caller,
): Promise<Settled> {
  const now = ctx.clock.now();
  let decided: DeviceRecord = record;
  if ((record.retiring?.length ?? 0) === 0) {
    let transition: Transition | undefined;
    if (renewalAbandoned(record, now)) transition = settleAbandonedRenewal(record, now);
    else if (confirmationOverdue(record, now)) transition = rollBackRotation(record, now);
    if (transition === undefined) return { outcome: 'nothing due', record };
    if (isRefusal(transition) || (await swap(ctx.store, transition)) === 'lost') return 'lost';
    decided = transition;
    if (decided.retiring === undefined) return { outcome: 'settled', record: decided };
  }
  const done = await retireCertificates(ctx, decided, deadline, caller);
  return done === 'lost' ? 'lost' : { outcome: 'settled', record: done };
}

/** Revoke and detach every retiring certificate, write the events they owe, then drop them from the record. */
export async function retireCertificates(
  ctx: CoreContext,
  record: DeviceRecord,
  deadline: number,
  caller: Caller,
): Promise<DeviceRecord | 'lost'> {
  const retiring = record.retiring ?? [];
  if (retiring.length === 0) return record;
  await Promise.all(
    retiring.map(async (entry) => {
      const ref = { thingName: record.thingName, ...entry };
      await revokeCertificateInAuthority(ctx, deadline, ref);
      await recordRetirement(ctx, record.serialNumber, entry, caller);
    }),
  );
  const dropped = retired(
    record,
    ctx.clock.now(),
    retiring.map((entry) => entry.certificateId),
  );
  if (isRefusal(dropped) || (await swap(ctx.store, dropped)) === 'lost') return 'lost';
  return dropped;
}

/**
 * Why a new certificate was revoked while the current one stays, as ROTATION_ROLLED_BACK's `cause`: not confirmed
 * by the deadline, replaced by a renewal for another key, or left by a renewal that died part-way.
 */
const ROLLBACK_CAUSES: Partial<Record<RetirementReason, string>> = {
  ROLLED_BACK: 'deadline',
  REPLACED: 'replaced',
  ABANDONED: 'abandoned',
};

/**
 * ROTATED and ROTATION_ROLLED_BACK, each keyed once per certificate and stamped with the decision's time. Written
 * before the entry is dropped, and a failure fails the retirement: the entry stays, so the event is written by
 * the next attempt instead of being lost.
 */
async function recordRetirement(
  ctx: CoreContext,
  serialNumber: string,
  entry: RetiringCertificate,
  caller: Caller,
): Promise<void> {
  const kept = entry.keptCertificateId;
  const cause = ROLLBACK_CAUSES[entry.reason];
  if (entry.reason === 'ROTATED' && kept !== undefined) {
    ctx.telemetry.count('CertificateRotated');
    ctx.telemetry.log('info', 'Certificate rotated', { serialNumber, certificateId: kept });
    await ctx.store.appendEvent(
      {
        serialNumber,
        type: 'ROTATED',
        at: entry.since,
        actor: actorOf(caller),
        details: { certificateId: kept, previousCertificateId: entry.certificateId },
      },
      `ROTATED#${kept}`,
    );
  } else if (cause !== undefined) {
    if (cause === 'deadline') ctx.telemetry.count('RotationRolledBack');
    ctx.telemetry.log('warn', 'Rotation rolled back: its new certificate is revoked, the current one stays', {
      serialNumber,
      certificateId: entry.certificateId,
      cause,
    });
    await ctx.store.appendEvent(
      {
        serialNumber,
        type: 'ROTATION_ROLLED_BACK',
        at: entry.since,
        actor: actorOf(caller),
        details: {
          certificateId: entry.certificateId,
          ...(kept === undefined ? {} : { keptCertificateId: kept }),
          cause,
        },
      },
      `ROTATION_ROLLED_BACK#${entry.certificateId}`,
    );
  }
}
