/** Compare-and-swap writes whose outcome is known even when the answer is lost. */
import type { DeviceRecord } from './device.ts';
import { isRefusal, type Transition } from './device-lifecycle.ts';
import type { DeviceStore, SwapOutcome } from './ports.ts';

/**
 * Write the record a lifecycle transition returned over the version it was made from. A refusal is `lost`
 * without a write: the device is not in the state the transition needs, so whoever decided must read again.
 *
 * A write can land while its answer is lost (a timeout, a dropped connection); the SDK then retries and that
 * retry loses its condition against our own write. So after a failure or a loss, read the item back and count
 * it as `won` when it is exactly the version we wrote: we must never undo work that actually landed.
 */
export async function swap(store: DeviceStore, transition: Transition): Promise<SwapOutcome> {
  if (isRefusal(transition)) return 'lost';
  const expectedVersion = transition.version - 1;
  let outcome: SwapOutcome;
  try {
    outcome = await store.replace(transition, expectedVersion);
  } catch (error) {
    if (await landed(store, transition)) return 'won';
    throw error;
  }
  if (outcome === 'lost' && (await landed(store, transition))) return 'won';
  return outcome;
}

async function landed(store: DeviceStore, written: DeviceRecord): Promise<boolean> {
  const stored = await store.get(written.serialNumber).catch(() => undefined);
  return (
    stored !== undefined &&
    stored.version === written.version &&
    stored.updatedAt === written.updatedAt &&
    stored.status === written.status &&
    stored.lease?.owner === written.lease?.owner &&
    stored.rotation?.lease?.owner === written.rotation?.lease?.owner &&
    stored.certificateId === written.certificateId
  );
}
