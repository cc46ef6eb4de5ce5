/** A freshly registered (PENDING) device as the API returns it, for client and CLI tests. */
import type { Device } from '../../client/types.ts';

export const REGISTERED_AT = '2026-11-29T12:00:00.000Z';
export const TOKEN_EXPIRES_AT = '2026-12-06T12:00:00.000Z';

export function pendingDevice(serialNumber: string, overrides: Partial<Device> = {}): Device {
  return {
    serialNumber,
    thingName: serialNumber,
    status: 'PENDING',
    locked: false,
    attributes: null,
    publicKeyPin: null,
    certificateId: null,
    certificateArn: null,
    pendingCertificateId: null,
    confirmBy: null,
    registeredAt: REGISTERED_AT,
    tokenExpiresAt: TOKEN_EXPIRES_AT,
    issuedAt: null,
    revokedAt: null,
    revocationReason: null,
    updatedAt: REGISTERED_AT,
    ...overrides,
  };
}
