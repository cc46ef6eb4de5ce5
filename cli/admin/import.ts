/** `cvm admin import FILE --out TOKENS`: a CSV of devices, resumable, tokens appended to a 0600 file. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addAdminConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { TokensMissingError, UsageError } from '../errors.ts';
import { importDevices, parseDeviceCsv, type ImportSummary } from '../import-devices.ts';
import { createProgress } from '../output.ts';
import { openTokensFile } from '../tokens-file.ts';
import { abbreviate, parsePositiveInteger, type ConnectAdmin } from './shared.ts';

export function addImportCommand(admin: Command, context: CliContext, connect: ConnectAdmin): void {
  const importCommand = admin
    .command('import')
    .description('register the devices of a CSV file (serialNumber[,thingName][,publicKey]); resumable')
    .argument('<file>', 'CSV file with a header row')
    .requiredOption('--out <file>', 'CSV file the registration tokens are appended to (created with mode 0600)')
    .option('--token-ttl <seconds>', 'how long the tokens stay valid (default 7 days)', parsePositiveInteger);
  addAdminConnectionOptions(importCommand).action(
    async (file: string, flags: ConnectionFlags & { out: string; tokenTtl?: number }) => {
      const rows = parseDeviceCsv(await readFile(file, 'utf8'));
      if (path.resolve(flags.out) === path.resolve(file)) {
        throw new UsageError('--out must not be the input file.');
      }
      const api = await connect(flags);
      const tokens = await openTokensFile(flags.out);
      for (const warning of tokens.warnings) context.stderr.write(`Warning: ${warning}\n`);
      const progress = createProgress(context, rows.length, 'devices');
      let summary: ImportSummary;
      try {
        summary = await importDevices(
          api,
          rows,
          {
            onRegistered: (registrations) => tokens.append(registrations),
            onSkipped: (serials) =>
              progress.note(`Skipped ${serials.length} already registered: ${abbreviate(serials)}`),
            onBatchDone: (settled) => progress.advance(settled),
          },
          {
            ...(flags.tokenTtl === undefined ? {} : { tokenTtlSeconds: flags.tokenTtl }),
            alreadyHeld: tokens.serialsWithTokens,
            onRetry: ({ delayMs, attempt, attempts }) =>
              progress.note(
                `Throttled by the API; waiting ${Math.round(delayMs / 1000)} s (try ${attempt + 1} of ${attempts}).`,
              ),
          },
        );
      } finally {
        progress.stop();
        await tokens.close();
      }
      context.stdout.write(
        summary.registered === 0
          ? 'No new devices to register.\n'
          : `Registered ${summary.registered} device(s); their tokens were appended to ${flags.out}.\n`,
      );
      if (summary.skipped.length > 0) {
        // A run that died between the server's answer and the token write leaves devices with no known token.
        const withoutToken = summary.skipped.filter((serial) => !tokens.serialsWithTokens.has(serial));
        context.stdout.write(`Skipped ${summary.skipped.length} already registered.\n`);
        if (withoutToken.length > 0) {
          throw new TokensMissingError(
            `${withoutToken.length} registered device(s) have no token in ${flags.out} (${abbreviate(withoutToken)}); ` +
              'if nobody else holds their tokens, issue new ones with `cvm admin reset SERIAL`.',
          );
        }
      }
    },
  );
}
