import { describe, expect, it } from 'vitest';
import { transitionCases } from '../../../support/transition-table.ts';
import type { DeviceRecord } from '../../../../resolvers/core/device.ts';
import {
  abandon,
  activate,
  claim,
  countWrongToken,
  isRefusal,
  lock,
  recordCertificate,
  release,
  reset,
  resumableBy,
  resume,
  revoke,
  suspend,
  takeOver,
  WRONG_TOKEN_REPORT_INTERVAL_MS,
  type Transition,
} from '../../../../resolvers/core/device-lifecycle.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const LATER = new Date(NOW.getTime() + 3_600_000).toISOString();
const EARLIER = new Date(NOW.getTime() - 1_000).toISOString();
const OWNER = 'owner-1';
const CERTIFICATE = { certificateId: 'c1', certificateArn: 'arn:aws:iot:us-east-1:0:cert/c1', certificatePem: 'PEM' };

const base: DeviceRecord = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  status: 'PENDING',
  tokenHash: 'a'.repeat(64),
  tokenExpiresAt: LATER,
  failedAttempts: 0,
  locked: false,
  registeredAt: EARLIER,
  updatedAt: EARLIER,
  version: 4,
};
const issuing = (expiresAt: string, extra: Partial<DeviceRecord> = {}): DeviceRecord => ({
  ...base,
  status: 'ISSUING',
  lease: { owner: OWNER, expiresAt, publicKeyFingerprint: 'f1' },
  ...extra,
});

function revokedFrom({ tokenHash: _hash, tokenExpiresAt: _expiry, ...rest }: DeviceRecord): DeviceRecord {
  return { ...rest, status: 'REVOKED', ...CERTIFICATE, revokedAt: EARLIER };
}

/** Every state a device can be in, as the transitions tell them apart. */
const STATES: Record<string, DeviceRecord> = {
  PENDING: base,
  'PENDING, locked': { ...base, locked: true, failedAttempts: 5 },
  'PENDING, token expired': { ...base, tokenExpiresAt: EARLIER },
  'ISSUING, lease live': issuing(LATER),
  'ISSUING, lease live, certificate recorded': issuing(LATER, CERTIFICATE),
  'ISSUING, lease expired': issuing(EARLIER, CERTIFICATE),
  ACTIVE: { ...base, status: 'ACTIVE', ...CERTIFICATE, publicKeyFingerprint: 'f1', issuedAt: EARLIER },
  REVOKED: revokedFrom(base),
};

const TRANSITIONS: Record<string, (record: DeviceRecord) => Transition> = {
  claim: (record) => claim(record, { now: NOW, owner: 'owner-2', leaseSeconds: 60, publicKeyFingerprint: 'f2' }),
  'record certificate': (record) => recordCertificate(record, NOW, OWNER, CERTIFICATE),
  activate: (record) => activate(record, NOW, OWNER),
  release: (record) => release(record, NOW, OWNER),
  abandon: (record) => abandon(record, NOW, OWNER, CERTIFICATE),
  'take over': (record) => takeOver(record, { now: NOW, owner: 'owner-2', leaseSeconds: 60 }),
  'count a wrong token': (record) => {
    const counted = countWrongToken(record, NOW, 5);
    return isRefusal(counted) ? counted : counted.record;
  },
  lock: (record) => lock(record, NOW),
  revoke: (record) => revoke(record, NOW, 'lost'),
  reset: (record) => reset(record, NOW, { tokenHash: 'b'.repeat(64), tokenExpiresAt: LATER }),
};

/** state → transition → the status it leads to, or `refused`. */
const EXPECTED: Record<string, Record<string, string>> = {
  PENDING: {
    claim: 'ISSUING',
    'record certificate': 'refused',
    activate: 'refused',
    release: 'refused',
    abandon: 'refused',
    'take over': 'refused',
    'count a wrong token': 'PENDING',
    lock: 'PENDING',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  'PENDING, locked': {
    claim: 'refused',
    'record certificate': 'refused',
    activate: 'refused',
    release: 'refused',
    abandon: 'refused',
    'take over': 'refused',
    'count a wrong token': 'PENDING',
    lock: 'refused',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  'PENDING, token expired': {
    claim: 'refused',
    'record certificate': 'refused',
    activate: 'refused',
    release: 'refused',
    abandon: 'refused',
    'take over': 'refused',
    'count a wrong token': 'PENDING',
    lock: 'PENDING',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  'ISSUING, lease live': {
    claim: 'refused',
    'record certificate': 'ISSUING',
    activate: 'refused',
    release: 'PENDING',
    abandon: 'ISSUING',
    'take over': 'refused',
    'count a wrong token': 'refused',
    lock: 'refused',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  'ISSUING, lease live, certificate recorded': {
    claim: 'refused',
    'record certificate': 'ISSUING',
    activate: 'ACTIVE',
    release: 'PENDING',
    abandon: 'ISSUING',
    'take over': 'refused',
    'count a wrong token': 'refused',
    lock: 'refused',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  'ISSUING, lease expired': {
    claim: 'refused',
    'record certificate': 'ISSUING',
    activate: 'ACTIVE',
    release: 'PENDING',
    abandon: 'ISSUING',
    'take over': 'ISSUING',
    'count a wrong token': 'refused',
    lock: 'refused',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  ACTIVE: {
    claim: 'refused',
    'record certificate': 'refused',
    activate: 'refused',
    release: 'refused',
    abandon: 'refused',
    'take over': 'refused',
    'count a wrong token': 'ACTIVE',
    lock: 'refused',
    revoke: 'REVOKED',
    reset: 'refused',
  },
  REVOKED: {
    claim: 'refused',
    'record certificate': 'refused',
    activate: 'refused',
    release: 'refused',
    abandon: 'refused',
    'take over': 'refused',
    'count a wrong token': 'REVOKED',
    lock: 'refused',
    revoke: 'refused',
    reset: 'PENDING',
  },
};

const CASES = transitionCases(STATES, TRANSITIONS, EXPECTED, 'missing from the table');

describe('device lifecycle', () => {
  it.each(CASES)('$state × $transition → $expected', ({ record, apply, expected }) => {
    const next = apply(record);
    if (isRefusal(next)) {
      expect(expected).toBe('refused');
      expect(next.reason).not.toBe('');
      return;
    }
    expect(next.status).toBe(expected);
    expect(next.version).toBe(record.version + 1);
    expect(next.updatedAt).toBe(NOW.toISOString());
    expect(record.version).toBe(4);
  });

  it('a claim holds a lease for the new owner and the CSR key', () => {
    const next = claim(base, { now: NOW, owner: 'o', leaseSeconds: 60, publicKeyFingerprint: 'f9' });
    expect(next).toMatchObject({
      lease: { owner: 'o', publicKeyFingerprint: 'f9', expiresAt: '2026-12-01T12:01:00.000Z' },
    });
  });

  it('activating drops the lease; releasing drops the lease and the certificate', () => {
    const recorded = STATES['ISSUING, lease live, certificate recorded'] as DeviceRecord;
    expect(activate(recorded, NOW, OWNER)).not.toHaveProperty('lease');
    const released = release(recorded, NOW, OWNER);
    expect(released).not.toHaveProperty('lease');
    expect(released).not.toHaveProperty('certificateId');
  });

  it('only the owner of the claim may record, activate, release or abandon', () => {
    const recorded = STATES['ISSUING, lease live, certificate recorded'] as DeviceRecord;
    expect(isRefusal(recordCertificate(recorded, NOW, 'intruder', CERTIFICATE))).toBe(true);
    expect(isRefusal(activate(recorded, NOW, 'intruder'))).toBe(true);
    expect(isRefusal(release(recorded, NOW, 'intruder'))).toBe(true);
    expect(isRefusal(abandon(recorded, NOW, 'intruder', CERTIFICATE))).toBe(true);
  });

  it('reset gives a new token, unlocks and forgets the certificate', () => {
    const next = reset(STATES['REVOKED'] as DeviceRecord, NOW, { tokenHash: 'b'.repeat(64), tokenExpiresAt: LATER });
    expect(next).toMatchObject({ status: 'PENDING', locked: false, failedAttempts: 0, tokenHash: 'b'.repeat(64) });
    expect(next).not.toHaveProperty('certificateId');
  });

  describe('count a wrong token', () => {
    it('locks a PENDING device at the limit, in the same write', () => {
      const fourth = { ...base, failedAttempts: 4 };
      const counted = countWrongToken(fourth, NOW, 5);
      expect(counted).toMatchObject({ locked: true, record: { locked: true, failedAttempts: 5, version: 5 } });
    });

    it('reports to the audit trail at most once an hour, with the count since the last report', () => {
      let record = STATES['ACTIVE'] as DeviceRecord;
      const reports: (number | undefined)[] = [];
      for (let i = 0; i < 3; i += 1) {
        const counted = countWrongToken(record, NOW, 5);
        if (isRefusal(counted)) throw new Error(counted.reason);
        reports.push(counted.report?.count);
        record = counted.record;
      }
      const hourLater = new Date(NOW.getTime() + WRONG_TOKEN_REPORT_INTERVAL_MS);
      const counted = countWrongToken(record, hourLater, 5);
      if (isRefusal(counted)) throw new Error(counted.reason);
      reports.push(counted.report?.count);
      expect(reports).toEqual([1, undefined, undefined, 3]);
      expect(counted.record.failedAttempts).toBe(0);
    });
  });

  describe('suspend and resume', () => {
    const recorded = issuing(LATER, { ...CERTIFICATE, publicKeyFingerprint: 'f1' });
    const terms = { now: NOW, owner: 'owner-2', leaseSeconds: 60, publicKeyFingerprint: 'f1' };

    it('suspends only the claim of its holder with a recorded certificate, keeping its expiry', () => {
      expect(suspend(recorded, NOW, OWNER)).toMatchObject({
        status: 'ISSUING',
        certificateId: 'c1',
        lease: { owner: OWNER, expiresAt: LATER, suspended: true },
        version: 5,
      });
      expect(isRefusal(suspend(recorded, NOW, 'someone else'))).toBe(true);
      expect(isRefusal(suspend(issuing(LATER), NOW, OWNER))).toBe(true);
    });

    it('resumes a suspended claim for the same key under a fresh lease, never for another key or after expiry', () => {
      const suspended = suspend(recorded, NOW, OWNER);
      if (isRefusal(suspended)) throw new Error(suspended.reason);
      expect(resumableBy(suspended, 'f1', NOW)).toBe(true);
      const resumed = resume(suspended, terms);
      expect(resumed).toMatchObject({
        status: 'ISSUING',
        certificateId: 'c1',
        lease: { owner: 'owner-2' },
        version: 6,
      });
      expect(resumed).not.toHaveProperty('lease.suspended');
      expect(isRefusal(resume(suspended, { ...terms, publicKeyFingerprint: 'f2' }))).toBe(true);
      expect(isRefusal(resume(suspended, { ...terms, now: new Date(Date.parse(LATER) + 1) }))).toBe(true);
      // A claim that was never suspended (its holder may still be working) is not resumable.
      expect(isRefusal(resume(recorded, terms))).toBe(true);
    });
  });
});
