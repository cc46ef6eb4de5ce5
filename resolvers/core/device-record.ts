/**
 * Reading a device record back from storage: every field is checked against the type the core reasons
 * about, so a corrupt or hand-edited item is an error that names the device instead of a record that lies.
 */
import {
  DEVICE_STATUSES,
  RETIREMENT_REASONS,
  type DeviceRecord,
  type DeviceStatus,
  type IssuanceLease,
  type PendingRotation,
  type RetirementReason,
  type RetiringCertificate,
} from './device.ts';

export class CorruptDeviceRecordError extends Error {
  override readonly name = 'CorruptDeviceRecordError';

  constructor(
    readonly serialNumber: string,
    problem: string,
  ) {
    super(`The stored record of device ${serialNumber} is corrupt: ${problem}.`);
  }
}

type Fields = Readonly<Record<string, unknown>>;

export function parseDeviceRecord(item: Fields): DeviceRecord {
  const serial = typeof item['serialNumber'] === 'string' ? item['serialNumber'] : '(no serial number)';
  const fail = (problem: string): never => {
    throw new CorruptDeviceRecordError(serial, problem);
  };
  const text = (name: string): string => {
    const value = item[name];
    return typeof value === 'string' && value.length > 0 ? value : fail(`${name} is not a non-empty string`);
  };
  const optionalText = (name: string): string | undefined =>
    item[name] === undefined || item[name] === null ? undefined : text(name);
  const count = (name: string): number => {
    const value = item[name];
    return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fail(`${name} is not a count`);
  };
  const optionalCount = (name: string): number | undefined => (item[name] === undefined ? undefined : count(name));

  const status = text('status');
  if (!(DEVICE_STATUSES as readonly string[]).includes(status)) fail(`status ${status} is not a device status`);
  if (typeof item['locked'] !== 'boolean') fail('locked is not a boolean');
  const record: DeviceRecord = {
    serialNumber: text('serialNumber'),
    thingName: text('thingName'),
    status: status as DeviceStatus,
    failedAttempts: count('failedAttempts'),
    locked: item['locked'] as boolean,
    registeredAt: text('registeredAt'),
    updatedAt: text('updatedAt'),
    version: count('version'),
    ...defined('attributes', parseAttributes(item['attributes'], fail)),
    ...defined('tokenHash', optionalText('tokenHash')),
    ...defined('tokenExpiresAt', optionalText('tokenExpiresAt')),
    ...defined('unreportedWrongTokens', optionalCount('unreportedWrongTokens')),
    ...defined('wrongTokensReportedAt', optionalText('wrongTokensReportedAt')),
    ...defined('lease', parseLease(item['lease'], fail)),
    ...defined('publicKeyPin', optionalText('publicKeyPin')),
    ...defined('publicKeyFingerprint', optionalText('publicKeyFingerprint')),
    ...defined('certificateId', optionalText('certificateId')),
    ...defined('certificateArn', optionalText('certificateArn')),
    ...defined('certificatePem', optionalText('certificatePem')),
    ...defined('issuedAt', optionalText('issuedAt')),
    ...defined('revokedAt', optionalText('revokedAt')),
    ...defined('revocationReason', optionalText('revocationReason')),
    ...defined('rotation', parseRotation(item['rotation'], fail)),
    ...defined('retiring', parseRetiring(item['retiring'], fail)),
    ...defined('supersededRenewalKeys', parseKeyList(item['supersededRenewalKeys'], fail)),
  };
  if (record.status === 'ISSUING' && record.lease === undefined) fail('an ISSUING device has no lease');
  if (record.rotation !== undefined && record.status !== 'ACTIVE') fail(`a ${record.status} device has a rotation`);
  if (record.rotation !== undefined && record.retiring !== undefined) fail('a device both rotates and retires');
  return record;
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function parseAttributes(value: unknown, fail: (problem: string) => never): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return fail('attributes is not a map');
  const entries: [string, unknown][] = Object.entries(value);
  const attributes = entries.filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  if (attributes.length !== entries.length) return fail('an attribute is not a string');
  return Object.fromEntries(attributes);
}

function fieldsOf(value: unknown, name: string, fail: (problem: string) => never): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`${name} is not a map`);
  return value as Record<string, unknown>;
}

function optionalString(fields: Record<string, unknown>, key: string, where: string, fail: (problem: string) => never) {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' && value.length > 0 ? value : fail(`${where}.${key} is not a non-empty string`);
}

function parseRotation(value: unknown, fail: (problem: string) => never): PendingRotation | undefined {
  if (value === undefined || value === null) return undefined;
  const fields = fieldsOf(value, 'rotation', fail);
  const text = (key: string) => optionalString(fields, key, 'rotation', fail);
  const publicKeyFingerprint = text('publicKeyFingerprint') ?? fail('rotation lacks its key fingerprint');
  const rotation: PendingRotation = {
    publicKeyFingerprint,
    ...defined('lease', parseLease(fields['lease'], fail)),
    ...defined('certificateId', text('certificateId')),
    ...defined('certificateArn', text('certificateArn')),
    ...defined('certificatePem', text('certificatePem')),
    ...defined('issuedAt', text('issuedAt')),
    ...defined('confirmBy', text('confirmBy')),
  };
  if ((rotation.lease === undefined) === (rotation.confirmBy === undefined)) {
    fail('rotation must have either a lease (issuing) or a deadline (pending confirmation)');
  }
  if (rotation.confirmBy !== undefined && rotation.certificateId === undefined) {
    fail('rotation pending confirmation has no certificate');
  }
  return rotation;
}

function parseKeyList(value: unknown, fail: (problem: string) => never): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((key) => typeof key === 'string' && key !== '')) {
    return fail('supersededRenewalKeys is not a non-empty list of key fingerprints');
  }
  return value as string[];
}

function parseRetiring(value: unknown, fail: (problem: string) => never): RetiringCertificate[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0) return fail('retiring is not a non-empty list');
  return value.map((entry: unknown) => {
    const fields = fieldsOf(entry, 'retiring entry', fail);
    const text = (key: string) => optionalString(fields, key, 'retiring', fail);
    const certificateId = text('certificateId');
    const certificateArn = text('certificateArn');
    const reason = text('reason');
    const since = text('since');
    if (certificateId === undefined || certificateArn === undefined || reason === undefined || since === undefined) {
      return fail('a retiring certificate lacks its id, ARN, reason or time');
    }
    if (!(RETIREMENT_REASONS as readonly string[]).includes(reason)) fail(`${reason} is not a retirement reason`);
    return {
      certificateId,
      certificateArn,
      reason: reason as RetirementReason,
      since,
      ...defined('keptCertificateId', text('keptCertificateId')),
    };
  });
}

function parseLease(value: unknown, fail: (problem: string) => never): IssuanceLease | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return fail('lease is not a map');
  const { owner, expiresAt, publicKeyFingerprint, suspended } = value as Record<string, unknown>;
  if (typeof owner !== 'string' || typeof expiresAt !== 'string' || typeof publicKeyFingerprint !== 'string') {
    return fail('lease lacks its owner, expiry or key fingerprint');
  }
  if (suspended !== undefined && suspended !== true) return fail('lease.suspended is not true');
  return { owner, expiresAt, publicKeyFingerprint, ...(suspended === true ? { suspended } : {}) };
}
