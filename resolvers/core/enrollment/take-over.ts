/**
 * A claim whose lease expired belongs to a request that crashed or timed out. Take it over with a
 * compare-and-swap first (from then on the stale request cannot write again, so it cannot finish behind our
 * back), then discard the certificate it recorded and release the device to PENDING. A certificate whose ISSUED
 * event was written (the event goes alongside the final write, so a process can die between the two) is revoked
 * and kept instead, as the evidence that event names.
 */
import { randomUUID } from 'node:crypto';
import { describeError } from '../audit.ts';
import {
  certificateRefOf,
  discardCertificate,
  revokeCertificateInAuthority,
  type CertificateRef,
} from '../certificate-lifecycle.ts';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord } from '../device.ts';
import { abandon, isRefusal, release, takeOver } from '../device-lifecycle.ts';
import { swap } from '../store-writes.ts';

/** `released` when the device is PENDING again, `lost` when another request moved it first. */
export async function takeOverAbandonedClaim(
  ctx: CoreContext,
  stale: DeviceRecord,
  deadline: number,
): Promise<'released' | 'lost'> {
  const owner = randomUUID();
  const taken = takeOver(stale, { now: ctx.clock.now(), owner, leaseSeconds: ctx.settings.leaseSeconds });
  if (isRefusal(taken) || (await swap(ctx.store, taken)) === 'lost') return 'lost';
  const ref = certificateRefOf(taken);
  if (ref !== undefined) {
    ctx.telemetry.log('warn', 'Cleaning up after an abandoned issuance', {
      serialNumber: stale.serialNumber,
      certificateId: ref.certificateId,
    });
    try {
      const cleanupDeadline = deadline + ctx.settings.compensationBudgetMs;
      if (await issuedEventNames(ctx, stale.serialNumber, ref))
        await revokeCertificateInAuthority(ctx, cleanupDeadline, ref);
      else await discardCertificate(ctx, cleanupDeadline, ref);
    } catch (error) {
      // Leave the certificate recorded under an expired lease: the next request takes over and tries again.
      await swap(ctx.store, abandon(taken, ctx.clock.now(), owner, ref)).catch((abandonError: unknown) => {
        ctx.telemetry.log('warn', 'Could not hand an abandoned claim back; it expires with its lease', {
          serialNumber: stale.serialNumber,
          error: describeError(abandonError),
        });
      });
      throw error;
    }
  }
  return (await swap(ctx.store, release(taken, ctx.clock.now(), owner))) === 'won' ? 'released' : 'lost';
}

/** Events a takeover looks back through: the abandoned attempt's ISSUED event is among the device's newest. */
const RECENT_EVENTS = 20;

async function issuedEventNames(ctx: CoreContext, serialNumber: string, ref: CertificateRef): Promise<boolean> {
  const { items } = await ctx.store.listEvents(serialNumber, RECENT_EVENTS);
  return items.some((event) => event.type === 'ISSUED' && event.details?.['certificateId'] === ref.certificateId);
}
