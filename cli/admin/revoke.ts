/** `cvm admin revoke SERIAL --reason R`: revoke the certificate, stop enrollment; safe to repeat. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { printJson } from '../output.ts';
import type { ConnectAdmin, JsonFlag } from './shared.ts';

export function addRevokeCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
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
}
