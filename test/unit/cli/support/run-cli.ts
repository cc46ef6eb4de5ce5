/** Runs `cvm` in-process with captured output, as a test would type it. */
import { Writable } from 'node:stream';
import { runCli } from '../../../../cli/program.ts';
import type { CliContext, StartLocalStack } from '../../../../cli/context.ts';

class CapturedOutput extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly startLocalStack?: StartLocalStack;
  readonly waitForStop?: () => Promise<string>;
}

export async function cvm(argv: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  const stdout = new CapturedOutput(false);
  const stderr = new CapturedOutput(false);
  const context: CliContext = {
    stdout,
    stderr,
    env: options.env ?? {},
    waitForStop: options.waitForStop ?? (() => Promise.resolve('SIGTERM')),
    ...(options.startLocalStack === undefined ? {} : { startLocalStack: options.startLocalStack }),
  };
  const code = await runCli(argv, context);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * Register `serial` on the local stack of `dataDir` and enroll it with `cvm device enroll --out outDir`, as an
 * admin and a device would type it; fails the test when either command fails.
 */
export async function registerAndEnrollWithCli(dataDir: string, serial: string, outDir: string): Promise<void> {
  const registered = await cvm(['admin', 'register', serial, '--data-dir', dataDir, '--json']);
  if (registered.code !== 0) throw new Error(`cvm admin register ${serial} failed: ${registered.stderr}`);
  const { registrationToken } = JSON.parse(registered.stdout) as { registrationToken: string };
  const enrolled = await cvm([
    'device',
    'enroll',
    '--serial',
    serial,
    '--token',
    registrationToken,
    '--data-dir',
    dataDir,
    '--out',
    outDir,
  ]);
  if (enrolled.code !== 0) throw new Error(`cvm device enroll ${serial} failed: ${enrolled.stderr}`);
}
