/** `cvm admin …`: register, import, list, show, revoke, reset, pin and reconcile devices, with IAM (or local admin) credentials. */
import type { Command } from 'commander';
import { createAdminApi } from '../../client/admin-api.ts';
import { adminClient } from '../connection.ts';
import type { CliContext } from '../context.ts';
import { addImportCommand } from './import.ts';
import { addListCommand } from './list.ts';
import { addPinCommand } from './pin.ts';
import { addReconcileCommand } from './reconcile.ts';
import { addRegisterCommand } from './register.ts';
import { addResetCommand } from './reset.ts';
import { addRevokeCommand } from './revoke.ts';
import type { ConnectAdmin } from './shared.ts';
import { addShowCommand } from './show.ts';

export function addAdminCommands(program: Command, context: CliContext): void {
  const admin = program.command('admin').description('manage devices (AWS IAM credentials, or --local)');
  const connect: ConnectAdmin = async (flags) => createAdminApi(await adminClient(flags, context.env));
  for (const add of [
    addRegisterCommand,
    addImportCommand,
    addListCommand,
    addShowCommand,
    addRevokeCommand,
    addResetCommand,
    addPinCommand,
    addReconcileCommand,
  ]) {
    add(admin, context, connect);
  }
}
