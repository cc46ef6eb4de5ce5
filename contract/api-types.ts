/**
 * The API's types as they travel, written once from schema.graphql for every home: the core answers with
 * them, the client reads them. AWSDateTime values are ISO-8601 strings; AWSJSON values are objects (AppSync
 * carries them as JSON strings on the wire, and the client parses them). Nullable output fields are `null`,
 * never absent; optional input fields may be absent.
 *
 * test/unit/contract/api-types.test.ts reads this file and schema.graphql and fails on any drift.
 */

export const DEVICE_STATUSES = ['PENDING', 'ISSUING', 'ACTIVE', 'REVOKED'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

export const DEVICE_EVENT_TYPES = [
  'REGISTERED',
  'TOKEN_FAILED',
  'LOCKED',
  'ISSUED',
  'ISSUE_FAILED',
  'REVOKED',
  'RESET',
  'RENEWAL_REQUESTED',
  'ROTATED',
  'ROTATION_ROLLED_BACK',
  'KEY_PINNED',
] as const;
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number];

export interface RequestCertificateInput {
  readonly serialNumber: string;
  readonly registrationToken: string;
  readonly csr: string;
}

export interface CertificateGrant {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  /** The CA the device trusts for the IoT endpoint: Amazon Root CA 1 in AWS, the local TLS CA locally. */
  readonly caCertificatePem: string;
  readonly iotEndpoint: string | null;
  readonly issuedAt: string;
  /** For a renewal: confirm before this time or the new certificate is revoked. Null for requestCertificate. */
  readonly confirmBy: string | null;
}

export interface RenewCertificateInput {
  readonly serialNumber: string;
  /** The device's current certificate. */
  readonly certificateId: string;
  /** PEM CSR for the new key, CN = serial number. */
  readonly csr: string;
  /** Base64 signature by the current key over SHA-256 of the new CSR's DER. */
  readonly signature: string;
}

export interface ConfirmCertificateInput {
  readonly serialNumber: string;
  /** The new certificate, from renewCertificate's grant. */
  readonly certificateId: string;
  /** Base64 signature by the new key over SHA-256 of the new certificate's DER. */
  readonly signature: string;
}

export interface RegisterDeviceInput {
  readonly serialNumber: string;
  /** Defaults (on the server) to the serial number. */
  readonly thingName?: string;
  /** Stored as the thing's attributes. */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Default (on the server) 7 days. */
  readonly tokenTtlSeconds?: number;
  /** PEM SubjectPublicKeyInfo: the only key the device may enroll with (key pinning). */
  readonly publicKey?: string;
}

export interface DeviceRegistration {
  /** Shown only in this answer; the server keeps its hash. */
  readonly registrationToken: string;
  readonly tokenExpiresAt: string;
  readonly device: Device;
}

export interface Device {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly status: DeviceStatus;
  readonly locked: boolean;
  readonly attributes: Readonly<Record<string, string>> | null;
  /** Lowercase hex SHA-256 of the pinned key's SubjectPublicKeyInfo DER, or null when no key is pinned. */
  readonly publicKeyPin: string | null;
  readonly certificateId: string | null;
  readonly certificateArn: string | null;
  /** The new certificate of a rotation awaiting the device's confirmation. */
  readonly pendingCertificateId: string | null;
  /** When the pending certificate is revoked unless confirmed first. */
  readonly confirmBy: string | null;
  readonly registeredAt: string;
  readonly tokenExpiresAt: string | null;
  readonly issuedAt: string | null;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
  readonly updatedAt: string;
}

export interface DeviceEvent {
  readonly serialNumber: string;
  readonly type: DeviceEventType;
  readonly at: string;
  /** The admin's IAM ARN, or `device`. */
  readonly actor: string;
  readonly details: Readonly<Record<string, unknown>> | null;
}

export interface ReconcileInput {
  /** Report what would be done and change nothing. */
  readonly dryRun?: boolean;
}

export interface ReconcileReport {
  /** Certificates examined (created within the look-back window). */
  readonly scanned: number;
  readonly orphans: readonly OrphanedCertificate[];
  /** Abandoned claims finished (devices released to PENDING). */
  readonly repaired: number;
  /** Rotations finished: rolled back past their deadline, abandoned part-way, or an old certificate revoked. */
  readonly rotationsSettled: number;
}

export interface OrphanedCertificate {
  readonly certificateId: string;
  /** The device the certificate was made for (its subject CN). */
  readonly serialNumber: string;
  /** INACTIVE or ACTIVE, when found. */
  readonly status: string;
  /** deleted, revoked, would delete, would revoke (dry run) or failed. */
  readonly action: string;
}

/** DeviceConnection and DeviceEventConnection. */
export interface Connection<T> {
  readonly items: readonly T[];
  readonly nextToken: string | null;
}
