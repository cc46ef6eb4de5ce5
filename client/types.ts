/**
 * The API's types as a client sees them, mirrored from schema.graphql. AWSDateTime values are ISO-8601
 * strings; AWSJSON values are parsed (they travel as JSON strings). Nullable fields are `null`, not absent.
 */
import type { DeviceEventType } from '../resolvers/core/device.ts';
import type { DeviceView as Device } from '../resolvers/core/device-view.ts';

// The same values and shapes as the server's, imported so the two cannot drift (type-only but for the lists).
export { DEVICE_EVENT_TYPES, DEVICE_STATUSES } from '../resolvers/core/device.ts';
export type { DeviceEventType, DeviceStatus } from '../resolvers/core/device.ts';
export type { CertificateGrant } from '../resolvers/core/request-certificate.ts';
export type { DeviceView as Device } from '../resolvers/core/device-view.ts';

export interface RegisterDeviceInput {
  readonly serialNumber: string;
  /** Defaults (on the server) to the serial number. */
  readonly thingName?: string;
  /** Stored as the thing's attributes. */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Default (on the server) 7 days. */
  readonly tokenTtlSeconds?: number;
}

export interface DeviceRegistration {
  /** Shown only in this answer; the server keeps its hash. */
  readonly registrationToken: string;
  readonly tokenExpiresAt: string;
  readonly device: Device;
}

export interface DeviceEvent {
  readonly serialNumber: string;
  readonly type: DeviceEventType;
  readonly at: string;
  /** The admin's IAM ARN, or `device`. */
  readonly actor: string;
  readonly details: Readonly<Record<string, unknown>> | null;
}

export interface Connection<T> {
  readonly items: readonly T[];
  readonly nextToken: string | null;
}
