/** `cvm admin list [--status S]`: every device, all pages. */
import { Option, type Command } from 'commander';
import { DEVICE_STATUSES, type Device, type DeviceStatus } from '../../client/types.ts';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatTable, printJson } from '../output.ts';
import type { ConnectAdmin, JsonFlag } from './shared.ts';

export function addListCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
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
}
