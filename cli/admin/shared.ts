/** What the `cvm admin` subcommands share: the API connection, the --json flag, argument parsers, output. */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import type { AdminApi } from '../../client/admin-api.ts';
import type { DeviceRegistration } from '../../client/types.ts';
import type { ConnectionFlags } from '../connection.ts';
import type { CliContext } from '../context.ts';
import { InputFileError } from '../errors.ts';
import { formatFields, printJson } from '../output.ts';

export interface JsonFlag {
  readonly json?: boolean;
}

/** Opens the admin API for a subcommand's connection flags (--local, or --endpoint/--region). */
export type ConnectAdmin = (flags: ConnectionFlags) => Promise<AdminApi>;

export function printRegistration(
  context: CliContext,
  registration: DeviceRegistration,
  flags: JsonFlag,
  verb: 'Registered' | 'Reset',
): void {
  if (flags.json === true) {
    printJson(context.stdout, registration);
    return;
  }
  const { device } = registration;
  context.stdout.write(
    `${verb} ${device.serialNumber} (thing ${device.thingName}).\n` +
      formatFields([
        ['Registration token', registration.registrationToken],
        ['Expires', registration.tokenExpiresAt],
      ]),
  );
  context.stderr.write(
    `The token is shown only this once. On the device: cvm device enroll --serial ${device.serialNumber} --token TOKEN --out DIR …\n`,
  );
}

export function abbreviate(items: readonly string[], shown = 5): string {
  return items.length <= shown
    ? items.join(', ')
    : `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}

export function parsePositiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError('Expected a whole number of seconds, at least 1.');
  }
  return parsed;
}

export function parseAttributes(value: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('Expected a JSON object, e.g. \'{"model":"X1"}\'.');
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((attribute) => typeof attribute === 'string')
  ) {
    throw new InvalidArgumentError('Expected a JSON object of string values, e.g. \'{"model":"X1"}\'.');
  }
  return parsed as Record<string, string>;
}

/**
 * The PEM public key of `--public-key FILE` (as `openssl pkey -pubout` writes it), read as is: the server checks
 * it, by the rules a CSR's key must meet.
 */
export async function readPublicKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new InputFileError(`The public key file ${file} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
