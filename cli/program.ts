/** The `cvm` command line: its commands, and how failures become messages and exit codes. */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { addAdminCommands } from './admin/index.ts';
import { waitForTerminationSignal, type CliContext } from './context.ts';
import { addDeviceCommands } from './device.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, describeError } from './errors.ts';
import { addLocalCommands } from './local.ts';
import { addSmokeCommand } from './smoke.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
const USAGE_HINT = '(add --help for usage)';

export function createProgram(context: CliContext): Command {
  // Settings made before the commands are added are inherited by every subcommand.
  const program = new Command('cvm')
    .description('Certificate Vending Machine for AWS IoT: each device enrolls once, with its own key.')
    .version(version)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .showHelpAfterError(USAGE_HINT)
    .showSuggestionAfterError();
  addDeviceCommands(program, context);
  addAdminCommands(program, context);
  addLocalCommands(program, context);
  addSmokeCommand(program, context);
  return program;
}

/** Run one command line (without `node cvm`) and return the exit code: 0 ok, 1 failed, 2 usage error. */
export async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  try {
    await createProgram(context).parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    // Commander has already printed its complaint; exit code 0 is --help or --version.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (error instanceof UsageError) {
      context.stderr.write(`cvm: ${error.message}\n${USAGE_HINT}\n`);
      return EXIT_USAGE;
    }
    context.stderr.write(`${describeError(error)}\n`);
    return EXIT_FAILED;
  }
}

export function processContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, waitForStop: waitForTerminationSignal };
}
