/**
 * Key pinning: a device whose key the admin pinned (its factory read the public key from the secure element)
 * enrolls only with a CSR for that key, so a stolen token alone cannot enroll a clone. Checked only once the token
 * is known to be right: a wrong token gets the same answer whatever the key, and a wrong key is not a guess, so it
 * does not count towards the lock.
 */
import type { InspectedCsr } from '../csr.ts';
import type { DeviceRecord } from '../device.ts';
import { CvmError } from '../errors.ts';

/** @throws CvmError `KeyMismatch` when the device has a pinned key and the CSR is for another. */
export function requirePinnedKey(record: DeviceRecord, csr: InspectedCsr): void {
  if (record.publicKeyPin === undefined || record.publicKeyPin === csr.publicKeyFingerprint) return;
  throw new CvmError(
    'KeyMismatch',
    "This device's key is pinned and the CSR is for another key; sign the CSR with the device's own key (the one its administrator registered).",
  );
}
