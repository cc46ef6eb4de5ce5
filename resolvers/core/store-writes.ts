/** Conditional writes whose outcome is known even when the answer is lost. */
import type { DeviceRecord } from './device.ts';
import type { DeviceStore } from './ports.ts';

/**
 * Replace `next` over `expectedVersion`, and be sure of the outcome. A write can land while its answer
 * is lost (a timeout, a dropped connection); the SDK then retries and that retry loses its condition
 * against our own write. So after any failure read the item back and accept it when it is exactly the
 * version we wrote: we must never undo work that actually landed.
 */
export async function replaceConfirmed(store: DeviceStore, next: DeviceRecord, expectedVersion: number): Promise<void> {
  try {
    await store.replace(next, expectedVersion);
  } catch (error) {
    const stored = await store.get(next.serialNumber).catch(() => undefined);
    if (stored !== undefined && isSameWrite(stored, next)) return;
    throw error;
  }
}

function isSameWrite(stored: DeviceRecord, written: DeviceRecord): boolean {
  return (
    stored.version === written.version &&
    stored.updatedAt === written.updatedAt &&
    stored.status === written.status &&
    stored.lease?.owner === written.lease?.owner &&
    stored.certificateId === written.certificateId
  );
}
