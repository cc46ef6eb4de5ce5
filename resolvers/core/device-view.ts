/** How a device and its events look to API clients: the GraphQL `Device` and `DeviceEvent` types. */
import type { DeviceEvent, DeviceRecord, DeviceStatus } from './device.ts';

export interface DeviceView {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly status: DeviceStatus;
  readonly locked: boolean;
  readonly attributes: Readonly<Record<string, string>> | null;
  readonly certificateId: string | null;
  readonly certificateArn: string | null;
  readonly registeredAt: string;
  readonly tokenExpiresAt: string | null;
  readonly issuedAt: string | null;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
  readonly updatedAt: string;
}

/** Never includes the token hash, the lease or the certificate PEM. */
export function deviceView(record: DeviceRecord): DeviceView {
  const hasAttributes = record.attributes !== undefined && Object.keys(record.attributes).length > 0;
  return {
    serialNumber: record.serialNumber,
    thingName: record.thingName,
    status: record.status,
    locked: record.locked,
    attributes: hasAttributes ? (record.attributes ?? null) : null,
    certificateId: record.certificateId ?? null,
    certificateArn: record.certificateArn ?? null,
    registeredAt: record.registeredAt,
    tokenExpiresAt: record.tokenHash === undefined ? null : (record.tokenExpiresAt ?? null),
    issuedAt: record.issuedAt ?? null,
    revokedAt: record.revokedAt ?? null,
    revocationReason: record.revocationReason ?? null,
    updatedAt: record.updatedAt,
  };
}

export interface DeviceEventView {
  readonly serialNumber: string;
  readonly type: string;
  readonly at: string;
  readonly actor: string;
  readonly details: DeviceEvent['details'] | null;
}

export function deviceEventView(event: DeviceEvent): DeviceEventView {
  return {
    serialNumber: event.serialNumber,
    type: event.type,
    at: event.at,
    actor: event.actor,
    details: event.details ?? null,
  };
}
