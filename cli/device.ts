/** `cvm device …`: what runs on a device (or for one, in a factory): enroll, connect, rotate. */
import { Option, type Command } from 'commander';
import { enrollDevice } from '../client/device-enroll.ts';
import { KEY_TYPES, type KeyType } from '../client/device-key.ts';
import type { CliContext } from './context.ts';
import { addDeviceConnectCommand } from './device-connect.ts';
import { addDeviceRotateCommand } from './device-rotate.ts';
import { addDeviceConnectionOptions, deviceClient, type ConnectionFlags } from './connection.ts';
import { UsageError } from './errors.ts';
import { formatFields, printJson } from './output.ts';

interface EnrollFlags extends ConnectionFlags {
  readonly serial: string;
  readonly token?: string;
  readonly keyType: KeyType;
  readonly out: string;
  readonly json?: boolean;
}

export function addDeviceCommands(program: Command, context: CliContext): void {
  const device = program.command('device').description('commands a device runs');

  const enroll = device
    .command('enroll')
    .description('make a key and a CSR, and exchange them and the registration token for a certificate')
    .requiredOption('--serial <serial>', "the device's serial number (the certificate's CN)")
    .option('--token <token>', 'the one-time registration token (env CVM_REGISTRATION_TOKEN)')
    .addOption(new Option('--key-type <type>', 'type of a new key').choices(KEY_TYPES).default('ec-p256'))
    .requiredOption('--out <dir>', 'directory for the key, CSR, certificate, CA and device.json')
    .option('--json', 'print the result as JSON');
  addDeviceConnectionOptions(enroll).action(async (flags: EnrollFlags) => {
    const registrationToken = flags.token ?? context.env.CVM_REGISTRATION_TOKEN;
    if (registrationToken === undefined || registrationToken === '') {
      throw new UsageError('Give the registration token: --token TOKEN or CVM_REGISTRATION_TOKEN.');
    }
    const client = await deviceClient(flags, context.env);
    const result = await enrollDevice({
      serialNumber: flags.serial,
      registrationToken,
      client,
      keyType: flags.keyType,
      outDir: flags.out,
      onProgress: (message) => context.stderr.write(`${message}\n`),
    });
    if (flags.json === true) {
      printJson(context.stdout, result);
      return;
    }
    context.stdout.write(
      formatFields([
        ['Serial number', result.serialNumber],
        ['Thing name', result.thingName],
        ['Certificate ID', result.certificateId],
        ['IoT endpoint', result.iotEndpoint],
        ['Certificate', result.files.certificate],
        ['Private key', result.files.key],
        ['CA to trust', result.files.ca],
      ]),
    );
  });

  addDeviceConnectCommand(device, context);
  addDeviceRotateCommand(device, context);
}
