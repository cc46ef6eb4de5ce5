/**
 * Issue the certificate for a claimed device: create it (inactive) and the thing, record the certificate on the
 * item, attach the policy and the thing, activate it, and finalize (→ ACTIVE). Any failure is compensated.
 */
import type { CoreContext } from '../context.ts';
import type { InspectedCsr } from '../csr.ts';
import type { DeviceRecord } from '../device.ts';
import { activate, isRefusal, recordCertificate, type Transition } from '../device-lifecycle.ts';
import { CvmError } from '../errors.ts';
import type { CreatedCertificate } from '../ports.ts';
import { swap } from '../store-writes.ts';
import { retryThrottled } from '../throttle-retry.ts';
import { outOfTime } from './answers.ts';
import { ClaimLostError } from './claim-lost.ts';
import { compensate } from './compensate.ts';

/** Do not activate a certificate when the lease has less than this left: a takeover may be about to start. */
const LEASE_SAFETY_MS = 5_000;

/** Returns the ACTIVE record, or throws the answer for the device after undoing the attempt. */
export async function issue(
  ctx: CoreContext,
  claimed: DeviceRecord,
  csr: InspectedCsr,
  deadline: number,
): Promise<DeviceRecord> {
  const { authority } = ctx;
  const owner = claimed.lease?.owner ?? '';
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
    current = await write(ctx, recordCertificate(current, ctx.clock.now(), owner, issued));

    await settleAll([
      retryThrottled(ctx, deadline, () => authority.attachPolicy(issued.certificateArn)),
      retryThrottled(ctx, deadline, () => authority.attachThingPrincipal(current.thingName, issued.certificateArn)),
    ]);
    requireLeaseTime(ctx, current);
    await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(issued.certificateId, 'ACTIVE'));

    return await write(ctx, activate(current, ctx.clock.now(), owner));
  } catch (error) {
    const outcome = await compensate(ctx, current, created, error, deadline);
    if (outcome instanceof CvmError) throw outcome;
    return outcome;
  }
}

async function write(ctx: CoreContext, transition: Transition): Promise<DeviceRecord> {
  if (isRefusal(transition) || (await swap(ctx.store, transition)) === 'lost') {
    throw new ClaimLostError('The claim on the device was taken by another request or an administrator.');
  }
  return transition;
}

/** Activation is the last irreversible step: never take it on a lease another request may be taking over. */
function requireLeaseTime(ctx: CoreContext, current: DeviceRecord): void {
  const expiresAt = Date.parse(current.lease?.expiresAt ?? '');
  if (!(expiresAt - ctx.clock.now().getTime() > LEASE_SAFETY_MS)) throw outOfTime();
}

/** Wait for every call (so cleanup never races a call still in flight), then fail with the first failure. */
async function settleAll(calls: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}
