/** `cvm admin pin SERIAL --public-key FILE | --clear`: the key the device's next certificate must be for. */
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { UsageError } from '../errors.ts';
import { formatFields, printJson } from '../output.ts';
import { readPublicKeyFile, type ConnectAdmin, type JsonFlag } from './shared.ts';

interface PinFlags extends ConnectionFlags, JsonFlag {
  readonly publicKey?: string;
  readonly clear?: boolean;
}

export function addPinCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
  const pin = admin
    .command('pin')
    .description(
      "pin the key of the device's next certificate (its enrollment or its next renewal), or --clear the pin; " +
        'the certificate it has now is not touched',
    )
    .argument('<serial>', "the device's serial number")
    .option('--public-key <file>', 'PEM public key (SubjectPublicKeyInfo), e.g. from `openssl pkey -pubout`')
    .addOption(new Option('--clear', 'remove the pin: any key may be used').conflicts('publicKey'))
    .option('--json', 'print the device as JSON');
  addAdminConnectionOptions(pin).action(async (serialNumber: string, flags: PinFlags) => {
    if (flags.publicKey === undefined && flags.clear !== true) {
      throw new UsageError('Give the key to pin with --public-key FILE, or remove the pin with --clear.');
    }
    const publicKey = flags.publicKey === undefined ? null : await readPublicKeyFile(flags.publicKey);
    const device = await (await connect(flags)).pinPublicKey(serialNumber, publicKey);
    if (flags.json === true) {
      printJson(context.stdout, device);
      return;
    }
    context.stdout.write(
      device.publicKeyPin === null
        ? `No key is pinned for ${device.serialNumber}: its next certificate may be for any accepted key.\n`
        : `Pinned ${device.serialNumber}'s next certificate to the key with SHA-256 ${device.publicKeyPin}.\n` +
            formatFields([['Current certificate', device.certificateId]]),
    );
  });
}
