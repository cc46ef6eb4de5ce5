/**
 * Steps every issuance takes, an enrollment's or a rotation's: attach the new certificate to the device policy
 * and the thing, never activate on a lease about to run out, and wait for every call before acting on a failure.
 */
import type { CoreContext } from './context.ts';
import type { DeviceRecord, IssuanceLease } from './device.ts';
import { isRefusal, type Transition } from './device-lifecycle.ts';
import { outOfTime } from './enrollment/answers.ts';
import { ClaimLostError } from './enrollment/claim-lost.ts';
import { swap } from './store-writes.ts';
import { retryThrottled } from './throttle-retry.ts';

/** Do not activate a certificate when the lease has less than this left: a takeover may be about to start. */
const LEASE_SAFETY_MS = 5_000;

/** Attach the policy and the thing principal, both at once. */
export function attachments(
  ctx: CoreContext,
  thingName: string,
  certificateArn: string,
  deadline: number,
): Promise<unknown>[] {
  const { authority } = ctx;
  return [
    retryThrottled(ctx, deadline, () => authority.attachPolicy(certificateArn)),
    retryThrottled(ctx, deadline, () => authority.attachThingPrincipal(thingName, certificateArn)),
  ];
}

/** Activation is the last irreversible step: never take it on a lease another request may be taking over. */
export function requireLeaseTime(ctx: CoreContext, lease: IssuanceLease | undefined): void {
  const expiresAt = Date.parse(lease?.expiresAt ?? '');
  if (!(expiresAt - ctx.clock.now().getTime() > LEASE_SAFETY_MS)) throw outOfTime();
}

/** Wait for every call (so cleanup never races a call still in flight), then fail with the first failure. */
export async function settleAll(calls: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Write a step of an issuance this request holds; losing the write means the claim is no longer ours. */
export async function writeHeld(ctx: CoreContext, transition: Transition): Promise<DeviceRecord> {
  if (isRefusal(transition) || (await swap(ctx.store, transition)) === 'lost') {
    throw new ClaimLostError('The claim on the device was taken by another request or an administrator.');
  }
  return transition;
}
