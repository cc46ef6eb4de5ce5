/** `cvm admin list [--status S | --rotation-pending]`: every device, all pages. */
import { Option, type Command } from 'commander';
import { DEVICE_STATUSES, type Device, type DeviceStatus } from '../../client/types.ts';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatTable, printJson } from '../output.ts';
import type { ConnectAdmin, JsonFlag } from './shared.ts';

interface ListFlags extends ConnectionFlags, JsonFlag {
  readonly status?: DeviceStatus;
  readonly rotationPending?: boolean;
}

export function addListCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
  const list = admin
    .command('list')
    .description('list devices (all pages)')
    .addOption(new Option('--status <status>', 'only devices of this status').choices(DEVICE_STATUSES))
    .addOption(
      new Option(
        '--rotation-pending',
        'only devices whose new certificate awaits confirmation, soonest deadline first',
      ).conflicts('status'),
    )
    .option('--json', 'print JSON');
  addAdminConnectionOptions(list).action(async (flags: ListFlags) => {
    const api = await connect(flags);
    const devices: Device[] = [];
    const filter =
      flags.rotationPending === true
        ? { rotationPending: true }
        : flags.status === undefined
          ? {}
          : { status: flags.status };
    for await (const device of api.allDevices(filter)) devices.push(device);
    if (flags.json === true) {
      printJson(context.stdout, devices);
      return;
    }
    if (devices.length === 0) {
      context.stderr.write(flags.rotationPending === true ? 'No rotation is pending.\n' : 'No devices.\n');
      return;
    }
    context.stdout.write(flags.rotationPending === true ? rotationTable(devices) : deviceTable(devices));
  });
}

function deviceTable(devices: readonly Device[]): string {
  return formatTable(
    ['SERIAL', 'THING', 'STATUS', 'LOCKED', 'CERTIFICATE', 'REGISTERED'],
    devices.map((device) => [
      device.serialNumber,
      device.thingName,
      device.status,
      device.locked ? 'locked' : '',
      device.certificateId?.slice(0, 12) ?? '',
      device.registeredAt,
    ]),
  );
}

function rotationTable(devices: readonly Device[]): string {
  return formatTable(
    ['SERIAL', 'THING', 'CERTIFICATE', 'PENDING CERTIFICATE', 'CONFIRM BY'],
    devices.map((device) => [
      device.serialNumber,
      device.thingName,
      device.certificateId?.slice(0, 12) ?? '',
      device.pendingCertificateId?.slice(0, 12) ?? '',
      device.confirmBy ?? '',
    ]),
  );
}
