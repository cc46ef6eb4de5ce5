/**
 * The device lifecycle: the one place that says which states a device can be in and how it moves between them.
 *
 * ```
 *            claim                record certificate        activate
 *  PENDING ────────▶ ISSUING ──────────────────────▶ ISSUING ────────▶ ACTIVE
 *     ▲  ▲              │  ▲ take over (lease expired)  │  ▲            │
 *     │  └── release ───┘  └──────────┘      suspend ───┘  └── resume   │ (same key, lease live)
 *     │                 abandon (keep the certificate for the next taker)│
 *     └───────────── reset ◀──── REVOKED ◀────────── revoke ─────────────┘ (from any state)
 * ```
 *
 * An ACTIVE device rotates its certificate without leaving ACTIVE; `rotation` tracks the new certificate and
 * `retiring` the certificates on their way out (revoked and detached in the authority, then dropped):
 *
 * ```
 *  none ──claimRenewal──▶ issuing ──recordRenewalCertificate──▶ issuing ──awaitConfirmation──▶ pending
 *   ▲   ◀─releaseRenewal──┘  │ (lease expired) settleAbandonedRenewal        confirmRotation │ rollBackRotation
 *   │                        ▼                                     replacePendingRenewal    ▼ (past confirmBy)
 *   └──────── retired ◀── retiring: the new certificate (ABANDONED, ROLLED_BACK, REPLACED) or the old (ROTATED)
 * ```
 *
 * Each transition is a pure function: it checks its precondition and returns the next record (version + 1,
 * `updatedAt` = now), or a Refusal saying why it does not apply. No other code builds a next record; the
 * store only persists what these return, with a compare-and-swap on the version.
 */
import type {
  DeviceRecord,
  DeviceStatus,
  IssuanceLease,
  PendingRotation,
  RetirementReason,
  RetiringCertificate,
} from './device.ts';
import type { BlindClaim } from './ports.ts';

/** Why a transition does not apply to a record. */
export class Refusal {
  constructor(readonly reason: string) {}
}

export type Transition = DeviceRecord | Refusal;

export function isRefusal<T>(value: T | Refusal): value is Refusal {
  return value instanceof Refusal;
}

/** How often at most a wrong token for a device that cannot enroll is written to the audit trail. */
export const WRONG_TOKEN_REPORT_INTERVAL_MS = 3_600_000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type OptionalKey = { [K in keyof DeviceRecord]-?: undefined extends DeviceRecord[K] ? K : never }[keyof DeviceRecord];

const CERTIFICATE_FIELDS = ['certificateId', 'certificateArn', 'certificatePem', 'publicKeyFingerprint'] as const;

function next(current: DeviceRecord, now: Date, set: Partial<DeviceRecord>, unset: readonly OptionalKey[] = []) {
  const record: Mutable<DeviceRecord> = { ...current, ...set };
  for (const key of unset) delete record[key];
  record.updatedAt = now.toISOString();
  record.version = current.version + 1;
  return record;
}

function requireStatus(record: DeviceRecord, ...allowed: DeviceStatus[]): Refusal | undefined {
  return allowed.includes(record.status)
    ? undefined
    : new Refusal(`the device is ${record.status}, not ${allowed.join(' or ')}`);
}

/** The lease has not expired (a suspended claim stays live too: nobody may take it over yet but its resumer). */
export function leaseIsLive(record: DeviceRecord, now: Date): boolean {
  return record.lease !== undefined && Date.parse(record.lease.expiresAt) > now.getTime();
}

export function tokenExpired(record: DeviceRecord, now: Date): boolean {
  return record.tokenExpiresAt === undefined || Date.parse(record.tokenExpiresAt) <= now.getTime();
}

export interface LeaseTerms {
  readonly now: Date;
  /** Random id of the request taking the claim. */
  readonly owner: string;
  readonly leaseSeconds: number;
}

function lease(terms: LeaseTerms, publicKeyFingerprint: string): IssuanceLease {
  const expiresAt = new Date(terms.now.getTime() + terms.leaseSeconds * 1000).toISOString();
  return { owner: terms.owner, expiresAt, publicKeyFingerprint };
}

/** PENDING (unlocked, token still valid) → ISSUING, with a lease owned by one request. */
export function claim(record: DeviceRecord, terms: LeaseTerms & { publicKeyFingerprint: string }): Transition {
  const refused = requireStatus(record, 'PENDING');
  if (refused) return refused;
  if (record.locked) return new Refusal('the device is locked');
  if (tokenExpired(record, terms.now)) return new Refusal('the registration token has expired');
  if (record.publicKeyPin !== undefined && record.publicKeyPin !== terms.publicKeyFingerprint) {
    return new Refusal('the device key is pinned to another key');
  }
  return next(record, terms.now, { status: 'ISSUING', lease: lease(terms, terms.publicKeyFingerprint) });
}

/**
 * `claim` as the store applies it in one conditional write without reading the device first: the same
 * preconditions (PENDING, unlocked, token unexpired, no pinned key or this one) plus the token itself, checked by
 * the store.
 */
export function claimWithoutReading(
  terms: LeaseTerms & { publicKeyFingerprint: string; tokenHash: string },
): BlindClaim {
  return { tokenHash: terms.tokenHash, now: terms.now.toISOString(), lease: lease(terms, terms.publicKeyFingerprint) };
}

/**
 * ISSUING, held by `owner`, with its certificate recorded → the same claim handed back, resumable: the request
 * failed (throttled, out of time) and the device's retry with the same key continues from the recorded step.
 * The lease keeps its expiry: once it expires, the claim is abandoned like any other and cleaned up.
 */
export function suspend(record: DeviceRecord, now: Date, owner: string): Transition {
  const refused = requireStatus(record, 'ISSUING') ?? requireOwner(record, owner);
  if (refused) return refused;
  if (record.certificateId === undefined || record.lease === undefined)
    return new Refusal('no certificate is recorded');
  return next(record, now, { lease: { ...record.lease, suspended: true } });
}

/** A suspended claim this key may resume: its lease is live and its certificate certifies this key. */
export function resumableBy(record: DeviceRecord, publicKeyFingerprint: string, now: Date): boolean {
  return (
    record.status === 'ISSUING' &&
    record.lease?.suspended === true &&
    leaseIsLive(record, now) &&
    record.certificateId !== undefined &&
    record.publicKeyFingerprint === publicKeyFingerprint
  );
}

/** A suspended ISSUING claim → held by a new owner under a fresh lease, to finish what was recorded. */
export function resume(record: DeviceRecord, terms: LeaseTerms & { publicKeyFingerprint: string }): Transition {
  if (!resumableBy(record, terms.publicKeyFingerprint, terms.now)) return new Refusal('the claim is not resumable');
  return next(record, terms.now, { lease: lease(terms, terms.publicKeyFingerprint) });
}

/** ISSUING, held by `owner` → ISSUING with the certificate recorded, before it can ever be used. */
export function recordCertificate(
  record: DeviceRecord,
  now: Date,
  owner: string,
  certificate: { certificateId: string; certificateArn: string; certificatePem: string },
): Transition {
  const refused = requireStatus(record, 'ISSUING') ?? requireOwner(record, owner);
  if (refused) return refused;
  return next(record, now, { ...certificate, publicKeyFingerprint: record.lease?.publicKeyFingerprint ?? '' });
}

/** ISSUING, held by `owner`, with a certificate recorded → ACTIVE. */
export function activate(record: DeviceRecord, now: Date, owner: string): Transition {
  const refused = requireStatus(record, 'ISSUING') ?? requireOwner(record, owner);
  if (refused) return refused;
  if (record.certificateId === undefined) return new Refusal('no certificate is recorded');
  return next(record, now, { status: 'ACTIVE', issuedAt: now.toISOString() }, ['lease']);
}

/** ISSUING, held by `owner` → PENDING: the attempt is undone and the token can be used again. */
export function release(record: DeviceRecord, now: Date, owner: string): Transition {
  const refused = requireStatus(record, 'ISSUING') ?? requireOwner(record, owner);
  if (refused) return refused;
  return next(record, now, { status: 'PENDING' }, ['lease', ...CERTIFICATE_FIELDS]);
}

/**
 * ISSUING, held by `owner`, whose certificate could not be discarded now → ISSUING with the lease expired
 * and the certificate recorded, so the next request (or the reconciler) takes over and finishes the cleanup.
 */
export function abandon(
  record: DeviceRecord,
  now: Date,
  owner: string,
  leftOver: { certificateId: string; certificateArn: string },
): Transition {
  const refused = requireStatus(record, 'ISSUING') ?? requireOwner(record, owner);
  if (refused) return refused;
  const { owner: holder, publicKeyFingerprint } = record.lease ?? { owner, publicKeyFingerprint: '' };
  const expired = { owner: holder, publicKeyFingerprint, expiresAt: now.toISOString() };
  return next(record, now, { lease: expired, ...leftOver });
}

/** ISSUING with an expired lease (its request crashed or timed out) → ISSUING held by a new owner. */
export function takeOver(record: DeviceRecord, terms: LeaseTerms): Transition {
  const refused = requireStatus(record, 'ISSUING');
  if (refused) return refused;
  if (leaseIsLive(record, terms.now)) return new Refusal('the lease is still live');
  return next(record, terms.now, { lease: lease(terms, record.lease?.publicKeyFingerprint ?? '') });
}

/** PENDING → PENDING locked: too many wrong tokens; only an admin reset lets the device in again. */
export function lock(record: DeviceRecord, now: Date): Transition {
  const refused = requireStatus(record, 'PENDING');
  if (refused) return refused;
  if (record.locked) return new Refusal('the device is already locked');
  return next(record, now, { locked: true });
}

export interface CountedWrongToken {
  readonly record: DeviceRecord;
  /** This wrong token is what locked the device. */
  readonly locked: boolean;
  /** Write a TOKEN_FAILED event now, for `count` wrong tokens; otherwise the counter on the device holds them. */
  readonly report: { readonly count: number } | undefined;
}

/**
 * A wrong token. For a PENDING device that is not locked it counts towards the lock (the one that reaches the
 * limit locks it). For every device it adds to a counter that goes into the audit trail at most once an hour,
 * so guessing cannot flood it. An ISSUING device is refused: a guess must not make the issuance under way lose
 * its next conditional write.
 */
export function countWrongToken(
  record: DeviceRecord,
  now: Date,
  maxFailedAttempts: number,
): CountedWrongToken | Refusal {
  if (record.status === 'ISSUING') return new Refusal('an issuance is under way');
  const countsTowardsLock = record.status === 'PENDING' && !record.locked;
  const failedAttempts = countsTowardsLock ? record.failedAttempts + 1 : record.failedAttempts;
  const locksNow = countsTowardsLock && failedAttempts >= maxFailedAttempts;
  const unreported = (record.unreportedWrongTokens ?? 0) + 1;
  const lastReport = record.wrongTokensReportedAt === undefined ? 0 : Date.parse(record.wrongTokensReportedAt);
  const reportDue = locksNow || now.getTime() - lastReport >= WRONG_TOKEN_REPORT_INTERVAL_MS;
  const counted = next(record, now, {
    failedAttempts,
    unreportedWrongTokens: reportDue ? 0 : unreported,
    ...(reportDue ? { wrongTokensReportedAt: now.toISOString() } : {}),
  });
  const report = reportDue ? { count: unreported } : undefined;
  if (!locksNow) return { record: counted, locked: false, report };
  const locked = lock(counted, now);
  if (isRefusal(locked)) return locked;
  // One write for both: the lock is part of counting the wrong token that reached the limit.
  return { record: { ...locked, version: counted.version }, locked: true, report };
}

/**
 * Any state but REVOKED → REVOKED: the token dies, a claim is void; the certificate stays recorded. A rotation's
 * new certificate, if one exists, is retired (REVOKED): the revocation covers both.
 */
export function revoke(record: DeviceRecord, now: Date, reason: string | undefined): Transition {
  const refused = requireStatus(record, 'PENDING', 'ISSUING', 'ACTIVE');
  if (refused) return refused;
  const retiring = retiringWith(record, now, record.rotation, 'REVOKED');
  return next(
    record,
    now,
    {
      status: 'REVOKED',
      revokedAt: now.toISOString(),
      ...(reason === undefined ? {} : { revocationReason: reason }),
      ...(retiring === undefined ? {} : { retiring }),
    },
    [
      'tokenHash',
      'tokenExpiresAt',
      'lease',
      'rotation',
      ...(reason === undefined ? (['revocationReason'] as const) : []),
    ],
  );
}

/**
 * REVOKED → PENDING with a new token, unlocked, with no certificate. The pinned key stays, unless the admin gives
 * a new one (`publicKeyPin`).
 */
export function reset(
  record: DeviceRecord,
  now: Date,
  token: { tokenHash: string; tokenExpiresAt: string },
  publicKeyPin?: string,
): Transition {
  const refused = requireStatus(record, 'REVOKED') ?? requireNothingRetiring(record);
  if (refused) return refused;
  return next(
    record,
    now,
    {
      status: 'PENDING',
      ...token,
      failedAttempts: 0,
      locked: false,
      unreportedWrongTokens: 0,
      ...(publicKeyPin === undefined ? {} : { publicKeyPin }),
    },
    [
      'lease',
      'issuedAt',
      'revokedAt',
      'revocationReason',
      'wrongTokensReportedAt',
      'supersededRenewalKeys',
      ...CERTIFICATE_FIELDS,
    ],
  );
}

function requireOwner(record: DeviceRecord, owner: string): Refusal | undefined {
  return record.lease?.owner === owner ? undefined : new Refusal('the claim is held by another request');
}

function requireNothingRetiring(record: DeviceRecord): Refusal | undefined {
  return (record.retiring?.length ?? 0) === 0 ? undefined : new Refusal('certificates are still being retired');
}

/** Any device → the same with this key pinned for its next certificate (undefined: no pin). */
export function pinKey(record: DeviceRecord, now: Date, publicKeyPin: string | undefined): Transition {
  if (record.publicKeyPin === publicKeyPin) return new Refusal('the pin is already so');
  return next(
    record,
    now,
    publicKeyPin === undefined ? {} : { publicKeyPin },
    publicKeyPin === undefined ? ['publicKeyPin'] : [],
  );
}

// ── Rotation ──────────────────────────────────────────────────────────────────────────────────────────────

/** The rotation is pending confirmation: its new certificate is active. */
export function awaitingConfirmation(
  rotation: PendingRotation | undefined,
): rotation is PendingRotation & { certificateId: string; certificateArn: string; confirmBy: string } {
  return (
    rotation?.confirmBy !== undefined && rotation.certificateId !== undefined && rotation.certificateArn !== undefined
  );
}

export function confirmationOverdue(record: DeviceRecord, now: Date): boolean {
  const confirmBy = record.rotation?.confirmBy;
  return confirmBy !== undefined && Date.parse(confirmBy) <= now.getTime();
}

/** The rotation's issuance was abandoned: its request died or gave up before the new certificate was active. */
export function renewalAbandoned(record: DeviceRecord, now: Date): boolean {
  const lease = record.rotation?.lease;
  return lease !== undefined && Date.parse(lease.expiresAt) <= now.getTime();
}

/**
 * When a device next needs the rotation sweep, and why: its oldest retirement (at once), or its rotation's lease
 * expiry (an abandoned issuance) or confirmation deadline (a rollback). Undefined: nothing to sweep.
 */
export function rotationDueAt(
  record: DeviceRecord,
): { readonly kind: 'ROTATION' | 'RETIRING'; readonly at: string } | undefined {
  const retiring = record.retiring ?? [];
  if (retiring.length > 0) {
    return { kind: 'RETIRING', at: retiring.map((entry) => entry.since).sort()[0] ?? record.updatedAt };
  }
  const at = record.rotation?.lease?.expiresAt ?? record.rotation?.confirmBy;
  return at === undefined ? undefined : { kind: 'ROTATION', at };
}

/** ACTIVE, no rotation, nothing retiring → a rotation held by one request issuing the new certificate. */
export function claimRenewal(record: DeviceRecord, terms: LeaseTerms & { publicKeyFingerprint: string }): Transition {
  const refused = requireStatus(record, 'ACTIVE') ?? requireNothingRetiring(record);
  if (refused) return refused;
  if (record.rotation !== undefined) return new Refusal('a rotation is under way');
  if (record.publicKeyPin !== undefined && record.publicKeyPin !== terms.publicKeyFingerprint) {
    return new Refusal('the device key is pinned to another key');
  }
  if (renewalSuperseded(record, terms.publicKeyFingerprint)) return new Refusal('that renewal was superseded');
  const { publicKeyFingerprint } = terms;
  return next(record, terms.now, { rotation: { publicKeyFingerprint, lease: lease(terms, publicKeyFingerprint) } });
}

function heldRotation(record: DeviceRecord, owner: string): PendingRotation | Refusal {
  const refused = requireStatus(record, 'ACTIVE');
  if (refused) return refused;
  const rotation = record.rotation;
  if (rotation?.lease?.owner !== owner) return new Refusal('the rotation is held by another request');
  return rotation;
}

/** A rotation held by `owner` → the same with its new certificate recorded, before it can ever be used. */
export function recordRenewalCertificate(
  record: DeviceRecord,
  now: Date,
  owner: string,
  certificate: { certificateId: string; certificateArn: string; certificatePem: string },
): Transition {
  const rotation = heldRotation(record, owner);
  if (isRefusal(rotation)) return rotation;
  return next(record, now, { rotation: { ...rotation, ...certificate } });
}

/** A rotation held by `owner`, its new certificate recorded and activated → pending confirmation until `confirmBy`. */
export function awaitConfirmation(record: DeviceRecord, now: Date, owner: string, confirmBy: Date): Transition {
  const rotation = heldRotation(record, owner);
  if (isRefusal(rotation)) return rotation;
  if (rotation.certificateId === undefined) return new Refusal('no certificate is recorded');
  const { lease: _held, ...issued } = rotation;
  return next(record, now, {
    rotation: { ...issued, issuedAt: now.toISOString(), confirmBy: confirmBy.toISOString() },
  });
}

/** A rotation held by `owner` → none: the attempt is undone (its certificate, if any, discarded first). */
export function releaseRenewal(record: DeviceRecord, now: Date, owner: string): Transition {
  const rotation = heldRotation(record, owner);
  if (isRefusal(rotation)) return rotation;
  return next(record, now, {}, ['rotation']);
}

/**
 * A rotation held by `owner` whose certificate could not be discarded now → the same with the lease expired and
 * the certificate recorded, for the next call or the sweep to retire.
 */
export function abandonRenewal(
  record: DeviceRecord,
  now: Date,
  owner: string,
  leftOver: { certificateId: string; certificateArn: string },
): Transition {
  const rotation = heldRotation(record, owner);
  if (isRefusal(rotation)) return rotation;
  const expired = { ...(rotation.lease as IssuanceLease), expiresAt: now.toISOString() };
  return next(record, now, { rotation: { ...rotation, ...leftOver, lease: expired } });
}

/** A rotation whose issuing request is gone (lease expired) → none; a certificate it recorded is retired. */
export function settleAbandonedRenewal(record: DeviceRecord, now: Date): Transition {
  const refused = requireStatus(record, 'ACTIVE');
  if (refused) return refused;
  if (!renewalAbandoned(record, now)) return new Refusal('no abandoned rotation');
  return dropRotation(record, now, 'ABANDONED');
}

/** How many superseded renewal keys a device remembers (a device that loses its new key that often is broken). */
export const MAX_SUPERSEDED_RENEWAL_KEYS = 16;

/**
 * A rotation pending confirmation → none, its certificate retired and its key remembered as superseded (a replay
 * of that renewal is refused): the device asked again for another key.
 */
export function replacePendingRenewal(record: DeviceRecord, now: Date): Transition {
  const refused = requireStatus(record, 'ACTIVE');
  if (refused) return refused;
  const rotation = record.rotation;
  if (!awaitingConfirmation(rotation)) return new Refusal('no rotation is pending confirmation');
  const superseded = [...(record.supersededRenewalKeys ?? []), rotation.publicKeyFingerprint].slice(
    -MAX_SUPERSEDED_RENEWAL_KEYS,
  );
  return dropRotation(record, now, 'REPLACED', { supersededRenewalKeys: superseded });
}

/** A renewal for this key would replay a request a later renewal superseded. */
export function renewalSuperseded(record: DeviceRecord, publicKeyFingerprint: string): boolean {
  return record.supersededRenewalKeys?.includes(publicKeyFingerprint) ?? false;
}

/**
 * A rotation pending confirmation of `certificateId`, before its deadline → the new certificate is the device's;
 * the old one is retired (ROTATED).
 */
export function confirmRotation(record: DeviceRecord, now: Date, certificateId: string): Transition {
  const refused = requireStatus(record, 'ACTIVE');
  if (refused) return refused;
  const rotation = record.rotation;
  if (!awaitingConfirmation(rotation) || rotation.certificateId !== certificateId) {
    return new Refusal('no rotation to this certificate is pending confirmation');
  }
  if (confirmationOverdue(record, now)) return new Refusal('the rotation is past its deadline');
  const old = retiringWith(record, now, record, 'ROTATED', rotation.certificateId);
  return next(
    record,
    now,
    {
      certificateId: rotation.certificateId,
      certificateArn: rotation.certificateArn,
      ...(rotation.certificatePem === undefined ? {} : { certificatePem: rotation.certificatePem }),
      publicKeyFingerprint: rotation.publicKeyFingerprint,
      issuedAt: rotation.issuedAt ?? now.toISOString(),
      ...(old === undefined ? {} : { retiring: old }),
    },
    ['rotation', 'supersededRenewalKeys'],
  );
}

/** A rotation past its deadline, unconfirmed → none; the new certificate is retired, the current one stays. */
export function rollBackRotation(record: DeviceRecord, now: Date): Transition {
  const refused = requireStatus(record, 'ACTIVE');
  if (refused) return refused;
  if (!awaitingConfirmation(record.rotation) || !confirmationOverdue(record, now)) {
    return new Refusal('no rotation is past its deadline');
  }
  return dropRotation(record, now, 'ROLLED_BACK');
}

/** Retiring certificates whose revocation is done → dropped from the record. */
export function retired(record: DeviceRecord, now: Date, certificateIds: readonly string[]): Transition {
  const retiring = record.retiring ?? [];
  const remaining = retiring.filter((entry) => !certificateIds.includes(entry.certificateId));
  if (remaining.length === retiring.length) return new Refusal('those certificates are not retiring');
  return remaining.length > 0 ? next(record, now, { retiring: remaining }) : next(record, now, {}, ['retiring']);
}

/** The rotation ends uncommitted: its new certificate, if any, is retired for `reason`; the current one stays. */
function dropRotation(
  record: DeviceRecord,
  now: Date,
  reason: RetirementReason,
  set: Partial<DeviceRecord> = {},
): DeviceRecord {
  const retiring = retiringWith(record, now, record.rotation, reason, record.certificateId);
  return next(record, now, { ...set, ...(retiring === undefined ? {} : { retiring }) }, ['rotation']);
}

/** `record.retiring` plus `certificate` (when it exists), or undefined when both are empty. */
function retiringWith(
  record: DeviceRecord,
  now: Date,
  certificate: { readonly certificateId?: string; readonly certificateArn?: string } | undefined,
  reason: RetirementReason,
  keptCertificateId?: string,
): readonly RetiringCertificate[] | undefined {
  const retiring = [...(record.retiring ?? [])];
  if (certificate?.certificateId !== undefined && certificate.certificateArn !== undefined) {
    retiring.push({
      certificateId: certificate.certificateId,
      certificateArn: certificate.certificateArn,
      reason,
      since: now.toISOString(),
      ...(keptCertificateId === undefined ? {} : { keptCertificateId }),
    });
  }
  return retiring.length > 0 ? retiring : undefined;
}
