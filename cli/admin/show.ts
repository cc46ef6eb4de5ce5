/** `cvm admin show SERIAL`: a device and its audit trail. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import type { Device } from '../../client/types.ts';
import { DeviceNotFoundError } from '../errors.ts';
import { formatFields, formatTable, printJson } from '../output.ts';
import type { ConnectAdmin, JsonFlag } from './shared.ts';

export function addShowCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
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
}

function describeDevice(device: Device): string {
  return formatFields([
    ['Serial number', device.serialNumber],
    ['Thing name', device.thingName],
    ['Status', device.status],
    ['Locked', device.locked ? 'yes (too many wrong tokens; `cvm admin reset` unlocks)' : 'no'],
    ['Attributes', device.attributes === null ? null : JSON.stringify(device.attributes)],
    ['Pinned key (SHA-256)', device.publicKeyPin],
    ['Certificate ID', device.certificateId],
    ['Certificate ARN', device.certificateArn],
    [
      'Pending certificate',
      device.pendingCertificateId === null
        ? null
        : `${device.pendingCertificateId} (rotation under way: both certificates work until the device confirms)`,
    ],
    ['Confirm by', device.confirmBy === null ? null : `${device.confirmBy} (else the pending certificate is revoked)`],
    ['Registered', device.registeredAt],
    ['Token expires', device.tokenExpiresAt],
    ['Issued', device.issuedAt],
    ['Revoked', device.revokedAt],
    ['Revocation reason', device.revocationReason],
    ['Updated', device.updatedAt],
  ]);
}
