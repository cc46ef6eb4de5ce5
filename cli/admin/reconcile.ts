/** `cvm admin reconcile [--dry-run]`: remove certificates a crash left unrecorded and finish abandoned claims. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { formatTable, printJson } from '../output.ts';
import type { ConnectAdmin, JsonFlag } from './shared.ts';

export function addReconcileCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
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
