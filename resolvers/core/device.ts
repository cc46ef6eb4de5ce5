/** The device item and the audit event: the shapes the core reasons about and the store persists. */

import type { DeviceEventType, DeviceStatus } from '../../contract/api-types.ts';

export { DEVICE_EVENT_TYPES, DEVICE_STATUSES } from '../../contract/api-types.ts';
export type { DeviceEventType, DeviceStatus } from '../../contract/api-types.ts';

/** A claim on a device while one request issues its certificate. */
export interface IssuanceLease {
  /** Random id of the request that holds the claim. */
  readonly owner: string;
  /** ISO-8601; after this another request may take over and clean up. */
  readonly expiresAt: string;
  /** Lowercase hex SHA-256 of the CSR's SubjectPublicKeyInfo DER. */
  readonly publicKeyFingerprint: string;
  /**
   * Set when the request holding the claim failed after recording its certificate (throttled, out of time) and
   * handed it back: until the lease expires, a retry with the same key resumes it instead of starting over.
   */
  readonly suspended?: true;
}

/**
 * A certificate rotation of an ACTIVE device: a new certificate being issued (under a lease, like an enrollment's
 * claim) and then, once active, awaiting the device's confirmation until `confirmBy`. Never present together
 * with `retiring`.
 */
export interface PendingRotation {
  /** Lowercase hex SHA-256 of the new key's SubjectPublicKeyInfo DER. */
  readonly publicKeyFingerprint: string;
  /** While the new certificate is being issued; absent once it is active. */
  readonly lease?: IssuanceLease;
  /** Recorded as soon as the new certificate exists, before it is activated. */
  readonly certificateId?: string;
  readonly certificateArn?: string;
  readonly certificatePem?: string;
  /** ISO-8601, when the new certificate was activated. */
  readonly issuedAt?: string;
  /** ISO-8601; set when the new certificate is active: unconfirmed by then, it is revoked (rolled back). */
  readonly confirmBy?: string;
}

/** Why a certificate is being retired, and so which event (if any) its retirement writes. */
export const RETIREMENT_REASONS = ['ROTATED', 'ROLLED_BACK', 'REPLACED', 'ABANDONED', 'REVOKED'] as const;
export type RetirementReason = (typeof RETIREMENT_REASONS)[number];

/**
 * A certificate the device no longer uses whose revocation in the authority is not known to be done yet. The
 * decision is written first (with this entry); revoking and detaching follow and the entry is then removed, so a
 * crash in between is finished by the next call that touches the device or by the sweep.
 */
export interface RetiringCertificate {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly reason: RetirementReason;
  /** ISO-8601, when the decision was written. */
  readonly since: string;
  /** The certificate the device keeps (its new one after ROTATED, its current one after ROLLED_BACK). */
  readonly keptCertificateId?: string;
}

export interface DeviceRecord {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly status: DeviceStatus;
  /** Thing attributes given at registration (string values only). */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Lowercase hex SHA-256 of the registration token; absent once the token is dead (revoked). */
  readonly tokenHash?: string;
  readonly tokenExpiresAt?: string;
  /** Wrong tokens since the last reset. */
  readonly failedAttempts: number;
  readonly locked: boolean;
  /** Wrong tokens for a device that could not enroll anyway (locked, ACTIVE, REVOKED) not yet in the audit trail. */
  readonly unreportedWrongTokens?: number;
  /** ISO-8601; when such wrong tokens last went into the audit trail (at most once an hour). */
  readonly wrongTokensReportedAt?: string;
  /** Present while status is ISSUING. */
  readonly lease?: IssuanceLease;
  /**
   * Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER of the only key this device may enroll with, when the
   * admin pinned one (at registration or reset). Outlives revocation and reset unless the admin replaces it.
   */
  readonly publicKeyPin?: string;
  /** The key the issued (or being issued) certificate certifies. */
  readonly publicKeyFingerprint?: string;
  /** Set as soon as a certificate exists, even before it is active, so that a crash can be cleaned up. */
  readonly certificateId?: string;
  readonly certificateArn?: string;
  readonly certificatePem?: string;
  readonly registeredAt: string;
  readonly issuedAt?: string;
  readonly revokedAt?: string;
  readonly revocationReason?: string;
  /** A certificate rotation under way (ACTIVE devices only). */
  readonly rotation?: PendingRotation;
  /**
   * Keys of pending certificates a later renewal replaced, while the current certificate lasts: a renewal for one
   * of them is a replay of a superseded request and is refused (it would replace the device's newer pending one).
   */
  readonly supersededRenewalKeys?: readonly string[];
  /** Certificates being retired (revoked and detached in the authority); never with `rotation`. */
  readonly retiring?: readonly RetiringCertificate[];
  readonly updatedAt: string;
  /** Incremented by every write; conditional writes compare it (compare-and-swap). */
  readonly version: number;
}

/** One line of a device's audit trail. Never holds a token, a key or a CSR. */
export interface DeviceEvent {
  readonly serialNumber: string;
  readonly type: DeviceEventType;
  /** ISO-8601 with milliseconds. */
  readonly at: string;
  /** The admin's IAM ARN, or `device`. */
  readonly actor: string;
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}
