/**
 * How a Device travels: the selection that asks for every field of the schema's `Device`, and the parse of its
 * AWSJSON fields, which arrive as JSON strings. Shared by the admin calls and confirmCertificate (a device call).
 */
import type { Device } from './types.ts';

export const DEVICE_FIELDS = `
  serialNumber thingName status locked attributes publicKeyPin certificateId certificateArn
  pendingCertificateId confirmBy registeredAt tokenExpiresAt issuedAt revokedAt revocationReason updatedAt`;

export type WireDevice = Omit<Device, 'attributes'> & { readonly attributes?: unknown };

export function fromWireDevice(device: WireDevice): Device {
  return { ...device, attributes: parseAwsJsonObject(device.attributes, 'attributes') as Device['attributes'] };
}

/** AWSJSON arrives as a JSON string; accept an already-parsed object too, in case a server inlines it. */
export function parseAwsJsonObject(value: unknown, field: string): Readonly<Record<string, unknown>> | null {
  if (value === null || value === undefined) return null;
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`The server sent a "${field}" value that is not a JSON object.`);
  }
  return parsed as Record<string, unknown>;
}
