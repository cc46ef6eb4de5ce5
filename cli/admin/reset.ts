/** `cvm admin reset SERIAL`: revoke any certificate, unlock, and a new one-time token. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import {
  printRegistration,
  parsePositiveInteger,
  readPublicKeyFile,
  type ConnectAdmin,
  type JsonFlag,
} from './shared.ts';

export function addResetCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
  const reset = admin
    .command('reset')
    .description('revoke any certificate, unlock the device and print a new one-time registration token')
    .argument('<serial>', "the device's serial number")
    .option('--token-ttl <seconds>', 'how long the token stays valid (default 7 days)', parsePositiveInteger)
    .option('--public-key <file>', 'pin this PEM public key instead (without it, a pinned key stays pinned)')
    .option('--json', 'print the result as JSON');
  addAdminConnectionOptions(reset).action(
    async (serialNumber: string, flags: ConnectionFlags & JsonFlag & { tokenTtl?: number; publicKey?: string }) => {
      const publicKey = flags.publicKey === undefined ? undefined : await readPublicKeyFile(flags.publicKey);
      const registration = await (
        await connect(flags)
      ).resetDevice(serialNumber, {
        ...(flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl }),
        ...(publicKey === undefined ? {} : { publicKey }),
      });
      printRegistration(context, registration, flags, 'Reset');
    },
  );
}
