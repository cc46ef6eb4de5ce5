import { describe, expect, it } from 'vitest';
import { CorruptDeviceRecordError, parseDeviceRecord } from '../../../../resolvers/core/device-record.ts';

const item = {
  serialNumber: 'SN-7',
  thingName: 'SN-7',
  status: 'PENDING',
  tokenHash: 'a'.repeat(64),
  tokenExpiresAt: '2026-12-02T00:00:00.000Z',
  failedAttempts: 0,
  locked: false,
  registeredAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
  version: 1,
};

describe('parseDeviceRecord', () => {
  it('reads a well-formed item into the record, field for field', () => {
    expect(parseDeviceRecord(item)).toStrictEqual(item);
  });

  it.each([
    ['an unknown status', { status: 'DELETED' }, 'status DELETED'],
    ['a version that is not a count', { version: '3' }, 'version'],
    ['a lock that is not a boolean', { locked: 'no' }, 'locked'],
    ['a lease without an owner', { status: 'ISSUING', lease: { expiresAt: 'x' } }, 'lease'],
    ['an ISSUING device without a lease', { status: 'ISSUING' }, 'no lease'],
    ['an attribute that is not a string', { attributes: { room: 3 } }, 'attribute'],
  ])('refuses %s, naming the serial', (_name, change, problem) => {
    const parse = () => parseDeviceRecord({ ...item, ...change });
    expect(parse).toThrow(CorruptDeviceRecordError);
    expect(parse).toThrow(new RegExp(`device SN-7 is corrupt: .*${problem}`));
  });
});
