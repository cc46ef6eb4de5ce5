/** Pure transitions of a DeviceRecord. Every transition bumps the version the store compares on write. */
import type { DeviceRecord } from './device.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type OptionalKeys = {
  [K in keyof DeviceRecord]-?: undefined extends DeviceRecord[K] ? K : never;
}[keyof DeviceRecord];

/** The record after a write at `now`: `set` overrides, `unset` removes optional fields. */
export function nextRecord(
  current: DeviceRecord,
  now: Date,
  set: Partial<DeviceRecord>,
  unset: readonly OptionalKeys[] = [],
): DeviceRecord {
  const next: Mutable<DeviceRecord> = { ...current, ...set };
  for (const key of unset) delete next[key];
  next.updatedAt = now.toISOString();
  next.version = current.version + 1;
  return next;
}

/** Fields that describe a certificate; cleared together. */
export const CERTIFICATE_FIELDS = [
  'certificateId',
  'certificateArn',
  'certificatePem',
  'publicKeyFingerprint',
] as const;

export function leaseIsLive(record: DeviceRecord, now: Date): boolean {
  return record.lease !== undefined && Date.parse(record.lease.expiresAt) > now.getTime();
}

export function tokenExpired(record: DeviceRecord, now: Date): boolean {
  return record.tokenExpiresAt === undefined || Date.parse(record.tokenExpiresAt) <= now.getTime();
}
