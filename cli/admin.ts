/** `cvm admin …`: register, import, list, show, revoke and reset devices, with IAM (or local admin) credentials. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createAdminApi, type AdminApi } from '../client/admin-api.ts';
import { DEVICE_STATUSES, type Device, type DeviceRegistration, type DeviceStatus } from '../client/types.ts';
import type { CliContext } from './context.ts';
import { addAdminConnectionOptions, adminClient, type ConnectionFlags } from './connection.ts';
import { DeviceNotFoundError, TokensMissingError, UsageError } from './errors.ts';
import { importDevices, parseDeviceCsv, type ImportSummary } from './import-devices.ts';
import { createProgress, formatFields, formatTable, printJson } from './output.ts';
import { openTokensFile } from './tokens-file.ts';

interface JsonFlag {
  readonly json?: boolean;
}

export function addAdminCommands(program: Command, context: CliContext): void {
  const admin = program.command('admin').description('manage devices (AWS IAM credentials, or --local)');
  const connect = async (flags: ConnectionFlags): Promise<AdminApi> =>
    createAdminApi(await adminClient(flags, context.env));

  const register = admin
    .command('register')
    .description('register one device and print its one-time registration token')
    .argument('<serial>', "the device's serial number")
    .option('--thing-name <name>', 'AWS IoT thing name (default: the serial number)')
    .option('--attributes <json>', 'thing attributes, a JSON object of strings', parseAttributes)
    .option('--token-ttl <seconds>', 'how long the token stays valid (default 7 days)', parsePositiveInteger)
    .option('--json', 'print the result as JSON');
  addAdminConnectionOptions(register).action(
    async (
      serialNumber: string,
      flags: ConnectionFlags &
        JsonFlag & { thingName?: string; attributes?: Record<string, string>; tokenTtl?: number },
    ) => {
      const api = await connect(flags);
      const registration = await api.registerDevice({
        serialNumber,
        ...(flags.thingName === undefined ? {} : { thingName: flags.thingName }),
        ...(flags.attributes === undefined ? {} : { attributes: flags.attributes }),
        ...(flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl }),
      });
      printRegistration(context, registration, flags, 'Registered');
    },
  );

  const importCommand = admin
    .command('import')
    .description('register the devices of a CSV file (serialNumber[,thingName]); resumable')
    .argument('<file>', 'CSV file with a header row')
    .requiredOption('--out <file>', 'CSV file the registration tokens are appended to (created with mode 0600)')
    .option('--token-ttl <seconds>', 'how long the tokens stay valid (default 7 days)', parsePositiveInteger);
  addAdminConnectionOptions(importCommand).action(
    async (file: string, flags: ConnectionFlags & { out: string; tokenTtl?: number }) => {
      const rows = parseDeviceCsv(await readFile(file, 'utf8'));
      if (path.resolve(flags.out) === path.resolve(file)) {
        throw new UsageError('--out must not be the input file.');
      }
      const api = await connect(flags);
      const tokens = await openTokensFile(flags.out);
      for (const warning of tokens.warnings) context.stderr.write(`Warning: ${warning}\n`);
      const progress = createProgress(context, rows.length, 'devices');
      let summary: ImportSummary;
      try {
        summary = await importDevices(
          api,
          rows,
          {
            onRegistered: (registrations) => tokens.append(registrations),
            onSkipped: (serials) =>
              progress.note(`Skipped ${serials.length} already registered: ${abbreviate(serials)}`),
            onBatchDone: (settled) => progress.advance(settled),
          },
          {
            ...(flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl }),
            alreadyHeld: tokens.serialsWithTokens,
            onRetry: ({ delayMs, attempt, attempts }) =>
              progress.note(
                `Throttled by the API; waiting ${Math.round(delayMs / 1000)} s (try ${attempt + 1} of ${attempts}).`,
              ),
          },
        );
      } finally {
        progress.stop();
        await tokens.close();
      }
      context.stdout.write(
        summary.registered === 0
          ? 'No new devices to register.\n'
          : `Registered ${summary.registered} device(s); their tokens were appended to ${flags.out}.\n`,
      );
      if (summary.skipped.length > 0) {
        // A run that died between the server's answer and the token write leaves devices with no known token.
        const withoutToken = summary.skipped.filter((serial) => !tokens.serialsWithTokens.has(serial));
        context.stdout.write(`Skipped ${summary.skipped.length} already registered.\n`);
        if (withoutToken.length > 0) {
          throw new TokensMissingError(
            `${withoutToken.length} registered device(s) have no token in ${flags.out} (${abbreviate(withoutToken)}); ` +
              'if nobody else holds their tokens, issue new ones with `cvm admin reset SERIAL`.',
          );
        }
      }
    },
  );

  const list = admin
    .command('list')
    .description('list devices (all pages)')
    .addOption(new Option('--status <status>', 'only devices of this status').choices(DEVICE_STATUSES))
    .option('--json', 'print JSON');
  addAdminConnectionOptions(list).action(async (flags: ConnectionFlags & JsonFlag & { status?: DeviceStatus }) => {
    const api = await connect(flags);
    const devices: Device[] = [];
    for await (const device of api.allDevices(flags.status === undefined ? {} : { status: flags.status })) {
      devices.push(device);
    }
    if (flags.json === true) {
      printJson(context.stdout, devices);
      return;
    }
    if (devices.length === 0) {
      context.stderr.write('No devices.\n');
      return;
    }
    context.stdout.write(
      formatTable(
        ['SERIAL', 'THING', 'STATUS', 'LOCKED', 'CERTIFICATE', 'REGISTERED'],
        devices.map((device) => [
          device.serialNumber,
          device.thingName,
          device.status,
          device.locked ? 'locked' : '',
          device.certificateId?.slice(0, 12) ?? '',
          device.registeredAt,
        ]),
      ),
    );
  });

  const show = admin
    .command('show')
    .description('show a device and its audit trail')
    .argument('<serial>', "the device's serial number")
    .option('--json', 'print JSON');
  addAdminConnectionOptions(show).action(async (serialNumber: string, flags: ConnectionFlags & JsonFlag) => {
    const api = await connect(flags);
    const device = await api.getDevice(serialNumber);
    if (device === null) {
      throw new DeviceNotFoundError(`No device is registered with serial number ${serialNumber}.`);
    }
    const events = [];
    for await (const event of api.allDeviceEvents(serialNumber)) events.push(event);
    if (flags.json === true) {
      printJson(context.stdout, { device, events });
      return;
    }
    context.stdout.write(describeDevice(device));
    context.stdout.write('\nEvents, newest first:\n');
    context.stdout.write(
      formatTable(
        ['AT', 'TYPE', 'ACTOR', 'DETAILS'],
        events.map((event) => [
          event.at,
          event.type,
          event.actor,
          event.details === null ? '' : JSON.stringify(event.details),
        ]),
      ),
    );
  });

  const revoke = admin
    .command('revoke')
    .description("revoke the device's certificate and stop it from enrolling (safe to repeat)")
    .argument('<serial>', "the device's serial number")
    .requiredOption('--reason <reason>', 'why, for the audit trail')
    .option('--json', 'print the device as JSON');
  addAdminConnectionOptions(revoke).action(
    async (serialNumber: string, flags: ConnectionFlags & JsonFlag & { reason: string }) => {
      const device = await (await connect(flags)).revokeCertificate(serialNumber, flags.reason);
      if (flags.json === true) printJson(context.stdout, device);
      else context.stdout.write(`Revoked ${device.serialNumber}: status ${device.status}.\n`);
    },
  );

  const reset = admin
    .command('reset')
    .description('revoke any certificate, unlock the device and print a new one-time registration token')
    .argument('<serial>', "the device's serial number")
    .option('--token-ttl <seconds>', 'how long the token stays valid (default 7 days)', parsePositiveInteger)
    .option('--json', 'print the result as JSON');
  addAdminConnectionOptions(reset).action(
    async (serialNumber: string, flags: ConnectionFlags & JsonFlag & { tokenTtl?: number }) => {
      const registration = await (
        await connect(flags)
      ).resetDevice(serialNumber, flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl });
      printRegistration(context, registration, flags, 'Reset');
    },
  );

  addReconcileCommand(admin, context, connect);
}

function addReconcileCommand(
  admin: Command,
  context: CliContext,
  connect: (flags: ConnectionFlags) => Promise<AdminApi>,
): void {
  const command = admin
    .command('reconcile')
    .description(
      'find certificates no device records (a crash between creating and recording one) and abandoned claims, and remove them (safe to repeat)',
    )
    .option('--dry-run', 'report what would be done and change nothing')
    .option('--json', 'print the report as JSON');
  addAdminConnectionOptions(command).action(async (flags: ConnectionFlags & JsonFlag & { dryRun?: boolean }) => {
    const report = await (await connect(flags)).reconcile({ dryRun: flags.dryRun === true });
    if (flags.json === true) {
      printJson(context.stdout, report);
      return;
    }
    context.stdout.write(
      `Scanned ${report.scanned} recent certificates; ${report.orphans.length} orphaned; ${report.repaired} abandoned claims finished.\n`,
    );
    if (report.orphans.length > 0) {
      context.stdout.write(
        formatTable(
          ['CERTIFICATE', 'SERIAL', 'STATUS', 'ACTION'],
          report.orphans.map((orphan) => [orphan.certificateId, orphan.serialNumber, orphan.status, orphan.action]),
        ),
      );
    }
  });
}

function printRegistration(
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

function describeDevice(device: Device): string {
  return formatFields([
    ['Serial number', device.serialNumber],
    ['Thing name', device.thingName],
    ['Status', device.status],
    ['Locked', device.locked ? 'yes (too many wrong tokens; `cvm admin reset` unlocks)' : 'no'],
    ['Attributes', device.attributes === null ? null : JSON.stringify(device.attributes)],
    ['Certificate ID', device.certificateId],
    ['Certificate ARN', device.certificateArn],
    ['Registered', device.registeredAt],
    ['Token expires', device.tokenExpiresAt],
    ['Issued', device.issuedAt],
    ['Revoked', device.revokedAt],
    ['Revocation reason', device.revocationReason],
    ['Updated', device.updatedAt],
  ]);
}

function abbreviate(items: readonly string[], shown = 5): string {
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
