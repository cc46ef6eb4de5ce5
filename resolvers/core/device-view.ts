/** How a device and its events look to API clients: the GraphQL `Device` and `DeviceEvent` types. */
import type { Device, DeviceEvent } from '../../contract/api-types.ts';
import type { DeviceEvent as AuditEvent, DeviceRecord } from './device.ts';
import { awaitingConfirmation } from './device-lifecycle.ts';

/** The GraphQL `Device`, as the contract defines it. */
export type DeviceView = Device;

/** Never includes the token hash, the lease or a certificate PEM. */
export function deviceView(record: DeviceRecord): DeviceView {
  const hasAttributes = record.attributes !== undefined && Object.keys(record.attributes).length > 0;
  return {
    serialNumber: record.serialNumber,
    thingName: record.thingName,
    status: record.status,
    locked: record.locked,
    attributes: hasAttributes ? (record.attributes ?? null) : null,
    publicKeyPin: record.publicKeyPin ?? null,
    certificateId: record.certificateId ?? null,
    certificateArn: record.certificateArn ?? null,
    pendingCertificateId: awaitingConfirmation(record.rotation) ? record.rotation.certificateId : null,
    confirmBy: awaitingConfirmation(record.rotation) ? record.rotation.confirmBy : null,
    registeredAt: record.registeredAt,
    tokenExpiresAt: record.tokenHash === undefined ? null : (record.tokenExpiresAt ?? null),
    issuedAt: record.issuedAt ?? null,
    revokedAt: record.revokedAt ?? null,
    revocationReason: record.revocationReason ?? null,
    updatedAt: record.updatedAt,
  };
}

export type DeviceEventView = DeviceEvent;

export function deviceEventView(event: AuditEvent): DeviceEventView {
  return {
    serialNumber: event.serialNumber,
    type: event.type,
    at: event.at,
    actor: event.actor,
    details: event.details ?? null,
  };
}
