/** `cvm admin register SERIAL`: one device, and its one-time token. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import {
  printRegistration,
  parseAttributes,
  parsePositiveInteger,
  readPublicKeyFile,
  type ConnectAdmin,
  type JsonFlag,
} from './shared.ts';

export function addRegisterCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
  const register = admin
    .command('register')
    .description('register one device and print its one-time registration token')
    .argument('<serial>', "the device's serial number")
    .option('--thing-name <name>', 'AWS IoT thing name (default: the serial number)')
    .option('--attributes <json>', 'thing attributes, a JSON object of strings', parseAttributes)
    .option('--token-ttl <seconds>', 'how long the token stays valid (default 7 days)', parsePositiveInteger)
    .option('--public-key <file>', "pin the device's key: a PEM public key file (openssl pkey -pubout)")
    .option('--json', 'print the result as JSON');
  addAdminConnectionOptions(register).action(
    async (
      serialNumber: string,
      flags: ConnectionFlags &
        JsonFlag & { thingName?: string; attributes?: Record<string, string>; tokenTtl?: number; publicKey?: string },
    ) => {
      const publicKey = flags.publicKey === undefined ? undefined : await readPublicKeyFile(flags.publicKey);
      const api = await connect(flags);
      const registration = await api.registerDevice({
        serialNumber,
        ...(flags.thingName === undefined ? {} : { thingName: flags.thingName }),
        ...(flags.attributes === undefined ? {} : { attributes: flags.attributes }),
        ...(flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl }),
        ...(publicKey === undefined ? {} : { publicKey }),
      });
      printRegistration(context, registration, flags, 'Registered');
    },
  );
}
