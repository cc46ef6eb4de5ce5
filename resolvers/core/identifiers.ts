/** Rules for the names a device is known by. */
import { CvmError } from './errors.ts';

/** AWS IoT thing names: 1-128 of letters, digits, colon, underscore and hyphen. Serials follow the same rule. */
export const THING_NAME_PATTERN = /^[A-Za-z0-9:_-]{1,128}$/;

export function requireSerialNumber(value: unknown): string {
  if (typeof value !== 'string' || !THING_NAME_PATTERN.test(value)) {
    throw new CvmError(
      'InvalidInput',
      'serialNumber must be 1-128 characters of letters, digits, ":", "_" or "-" (the AWS IoT thing-name set).',
    );
  }
  return value;
}

export function requireThingName(value: unknown): string {
  if (typeof value !== 'string' || !THING_NAME_PATTERN.test(value)) {
    throw new CvmError('InvalidInput', 'thingName must be 1-128 characters of letters, digits, ":", "_" or "-".');
  }
  return value;
}
