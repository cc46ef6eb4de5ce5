/**
 * The rotation transitions of device-lifecycle as a state × transition table: each pair either refuses or leads
 * to exactly the state written here. A new state or transition without its row fails the table.
 */
import { describe, expect, it } from 'vitest';
import { transitionCases } from '../../../support/transition-table.ts';
import type { DeviceRecord } from '../../../../resolvers/core/device.ts';
import {
  abandonRenewal,
  awaitConfirmation,
  claimRenewal,
  confirmRotation,
  isRefusal,
  recordRenewalCertificate,
  releaseRenewal,
  replacePendingRenewal,
  retired,
  revoke,
  rollBackRotation,
  rotationDueAt,
  settleAbandonedRenewal,
  type Transition,
} from '../../../../resolvers/core/device-lifecycle.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const LATER = new Date(NOW.getTime() + 3_600_000).toISOString();
const EARLIER = new Date(NOW.getTime() - 1_000).toISOString();
const OWNER = 'owner-1';
const OLD = { certificateId: 'old', certificateArn: 'arn:aws:iot:us-east-1:0:cert/old', certificatePem: 'OLD' };
const NEW = { certificateId: 'new', certificateArn: 'arn:aws:iot:us-east-1:0:cert/new', certificatePem: 'NEW' };
const LEASE = { owner: OWNER, expiresAt: LATER, publicKeyFingerprint: 'f2' };

const active: DeviceRecord = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  status: 'ACTIVE',
  failedAttempts: 0,
  locked: false,
  registeredAt: EARLIER,
  updatedAt: EARLIER,
  issuedAt: EARLIER,
  publicKeyFingerprint: 'f1',
  ...OLD,
  version: 7,
};
const retiringEntry = { ...NEW, reason: 'REPLACED' as const, since: EARLIER };

const STATES: Record<string, DeviceRecord> = {
  ACTIVE: active,
  'issuing, lease live': { ...active, rotation: { publicKeyFingerprint: 'f2', lease: LEASE } },
  'issuing, certificate recorded': { ...active, rotation: { publicKeyFingerprint: 'f2', lease: LEASE, ...NEW } },
  'issuing, lease expired': {
    ...active,
    rotation: { publicKeyFingerprint: 'f2', lease: { ...LEASE, expiresAt: EARLIER }, ...NEW },
  },
  pending: { ...active, rotation: { publicKeyFingerprint: 'f2', ...NEW, issuedAt: EARLIER, confirmBy: LATER } },
  'pending, overdue': {
    ...active,
    rotation: { publicKeyFingerprint: 'f2', ...NEW, issuedAt: EARLIER, confirmBy: EARLIER },
  },
  'ACTIVE, retiring': { ...active, retiring: [retiringEntry] },
  'ACTIVE, pinned to another key': { ...active, publicKeyPin: 'f9' },
  'ACTIVE, the key superseded': { ...active, supersededRenewalKeys: ['f2'] },
  PENDING: { ...active, status: 'PENDING', tokenHash: 'a'.repeat(64), tokenExpiresAt: LATER },
  REVOKED: { ...active, status: 'REVOKED', revokedAt: EARLIER },
};

const TRANSITIONS: Record<string, (record: DeviceRecord) => Transition> = {
  claim: (record) => claimRenewal(record, { now: NOW, owner: 'owner-2', leaseSeconds: 60, publicKeyFingerprint: 'f2' }),
  'record certificate': (record) => recordRenewalCertificate(record, NOW, OWNER, NEW),
  'await confirmation': (record) => awaitConfirmation(record, NOW, OWNER, new Date(LATER)),
  release: (record) => releaseRenewal(record, NOW, OWNER),
  abandon: (record) => abandonRenewal(record, NOW, OWNER, NEW),
  'settle abandoned': (record) => settleAbandonedRenewal(record, NOW),
  replace: (record) => replacePendingRenewal(record, NOW),
  confirm: (record) => confirmRotation(record, NOW, 'new'),
  'roll back': (record) => rollBackRotation(record, NOW),
  retired: (record) => retired(record, NOW, ['new', 'old']),
  revoke: (record) => revoke(record, NOW, undefined),
};

/** The resulting state in the table's words: status, rotation stage, what is retiring and why. */
function describeState(record: DeviceRecord): string {
  const rotation = record.rotation;
  const stage =
    rotation === undefined
      ? ''
      : rotation.lease === undefined
        ? ' pending'
        : rotation.certificateId === undefined
          ? ' issuing'
          : Date.parse(rotation.lease.expiresAt) <= NOW.getTime()
            ? ' issuing, certificate recorded, lease expired'
            : ' issuing, certificate recorded';
  const retiring = (record.retiring ?? []).map((entry) => `${entry.certificateId} ${entry.reason}`).join(', ');
  return `${record.status}${stage}${retiring === '' ? '' : `; retiring ${retiring}`} (certificate ${record.certificateId ?? '-'})`;
}

const EXPECTED: Record<string, Partial<Record<string, string>>> = {
  ACTIVE: {
    claim: 'ACTIVE issuing (certificate old)',
    revoke: 'REVOKED (certificate old)',
  },
  'issuing, lease live': {
    'record certificate': 'ACTIVE issuing, certificate recorded (certificate old)',
    release: 'ACTIVE (certificate old)',
    abandon: 'ACTIVE issuing, certificate recorded, lease expired (certificate old)',
    revoke: 'REVOKED (certificate old)',
  },
  'issuing, certificate recorded': {
    'record certificate': 'ACTIVE issuing, certificate recorded (certificate old)',
    'await confirmation': 'ACTIVE pending (certificate old)',
    release: 'ACTIVE (certificate old)',
    abandon: 'ACTIVE issuing, certificate recorded, lease expired (certificate old)',
    revoke: 'REVOKED; retiring new REVOKED (certificate old)',
  },
  'issuing, lease expired': {
    'record certificate': 'ACTIVE issuing, certificate recorded, lease expired (certificate old)',
    'await confirmation': 'ACTIVE pending (certificate old)',
    release: 'ACTIVE (certificate old)',
    abandon: 'ACTIVE issuing, certificate recorded, lease expired (certificate old)',
    'settle abandoned': 'ACTIVE; retiring new ABANDONED (certificate old)',
    revoke: 'REVOKED; retiring new REVOKED (certificate old)',
  },
  pending: {
    replace: 'ACTIVE; retiring new REPLACED (certificate old)',
    confirm: 'ACTIVE; retiring old ROTATED (certificate new)',
    revoke: 'REVOKED; retiring new REVOKED (certificate old)',
  },
  'pending, overdue': {
    replace: 'ACTIVE; retiring new REPLACED (certificate old)',
    'roll back': 'ACTIVE; retiring new ROLLED_BACK (certificate old)',
    revoke: 'REVOKED; retiring new REVOKED (certificate old)',
  },
  'ACTIVE, retiring': {
    retired: 'ACTIVE (certificate old)',
    revoke: 'REVOKED; retiring new REPLACED (certificate old)',
  },
  'ACTIVE, pinned to another key': {
    revoke: 'REVOKED (certificate old)',
  },
  'ACTIVE, the key superseded': {
    revoke: 'REVOKED (certificate old)',
  },
  PENDING: {
    revoke: 'REVOKED (certificate old)',
  },
  REVOKED: {},
};

const CASES = transitionCases(STATES, TRANSITIONS, EXPECTED, 'refused');

describe('rotation lifecycle', () => {
  it.each(CASES)('$state × $transition → $expected', ({ record, apply, expected }) => {
    const next = apply(record);
    if (isRefusal(next)) {
      expect('refused').toBe(expected);
      expect(next.reason).not.toBe('');
      return;
    }
    expect(describeState(next)).toBe(expected);
    expect(next.version).toBe(record.version + 1);
    expect(next.updatedAt).toBe(NOW.toISOString());
    // A record never both rotates and retires.
    expect(next.rotation !== undefined && next.retiring !== undefined).toBe(false);
  });

  it('confirming makes the new certificate, its key and its issue time the device own', () => {
    const next = confirmRotation(STATES['pending'] as DeviceRecord, NOW, 'new');
    if (isRefusal(next)) throw new Error(next.reason);
    expect(next).toMatchObject({ ...NEW, publicKeyFingerprint: 'f2', issuedAt: EARLIER });
    expect(next.retiring).toEqual(
      [
        { ...OLD, certificatePem: undefined, reason: 'ROTATED', since: NOW.toISOString(), keptCertificateId: 'new' },
      ].map(({ certificatePem: _pem, ...entry }) => entry),
    );
  });

  it('says when the sweep is due: retirements at once, then a lease expiry or a deadline', () => {
    expect(rotationDueAt(active)).toBeUndefined();
    expect(rotationDueAt(STATES['issuing, lease live'] as DeviceRecord)).toEqual({ kind: 'ROTATION', at: LATER });
    expect(rotationDueAt(STATES['pending, overdue'] as DeviceRecord)).toEqual({ kind: 'ROTATION', at: EARLIER });
    expect(rotationDueAt(STATES['ACTIVE, retiring'] as DeviceRecord)).toEqual({ kind: 'RETIRING', at: EARLIER });
  });
});
