/** Everything a `cvm` command touches outside itself, so that tests can run commands in-process. */
import type { CliEnv } from './connection.ts';
import type { CliTerminal } from './output.ts';

export interface LocalStackHandle {
  readonly config: { readonly graphqlUrl: string; readonly iotEndpoint?: string; readonly mqttPort?: number };
  close(): Promise<void>;
}

export type StartLocalStack = (options: {
  dataDir: string;
  port: number;
  mqttPort?: number;
  host?: string;
  log?: (line: string) => void;
}) => Promise<LocalStackHandle>;

export interface CliContext extends CliTerminal {
  readonly env: CliEnv;
  /** Resolves with the signal's name when a long-running command (`local start`) should stop. */
  readonly waitForStop: () => Promise<string>;
  /** Default: local/stack.ts, loaded only by `local start`. */
  readonly startLocalStack?: StartLocalStack;
}

/** SIGINT or SIGTERM, whichever comes first. */
export function waitForTerminationSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
