/** `cvm local start`: the local stack (HTTPS GraphQL twin of AppSync, dynalite, local CA) in the foreground. */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_MQTT_PORT, DEFAULT_PORT, localConfigPath } from '../local/config.ts';
import type { CliContext, StartLocalStack } from './context.ts';
import { dataDir as dataDirOf } from './connection.ts';
import { UsageError } from './errors.ts';

export function addLocalCommands(program: Command, context: CliContext): void {
  const local = program.command('local').description('cvm on this machine, without an AWS account');

  local
    .command('start')
    .description('start the local stack and keep it running until Ctrl-C (SIGINT) or SIGTERM')
    .option('--port <port>', `HTTPS port, 0 for any free one (env CVM_PORT, default ${DEFAULT_PORT})`, parsePort)
    .option(
      '--mqtt-port <port>',
      `MQTT (mutual TLS) port, 0 for any free one (env CVM_MQTT_PORT, default ${DEFAULT_MQTT_PORT})`,
      parsePort,
    )
    .option('--data-dir <dir>', `where state and local.json live (env CVM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .action(async (flags: { port?: number; mqttPort?: number; dataDir?: string }) => {
      const port = flags.port ?? portFromEnv('CVM_PORT', context.env.CVM_PORT) ?? DEFAULT_PORT;
      const mqttPort = flags.mqttPort ?? portFromEnv('CVM_MQTT_PORT', context.env.CVM_MQTT_PORT) ?? DEFAULT_MQTT_PORT;
      const dataDir = dataDirOf(flags, context.env);
      // Loaded on demand: devices and admins never need dynalite and the local CA.
      const start: StartLocalStack = context.startLocalStack ?? (await import('../local/stack.ts')).startLocalStack;
      const stack = await start({ dataDir, port, mqttPort, log: (line) => context.stderr.write(`${line}\n`) });
      const dataDirFlag = dataDir === DEFAULT_DATA_DIR ? '' : ` --data-dir ${dataDir}`;
      context.stdout.write(
        `cvm local stack listening on ${stack.config.graphqlUrl}\n` +
          (stack.config.mqttPort === undefined
            ? ''
            : `MQTT endpoint (mutual TLS): ${stack.config.iotEndpoint ?? 'localhost'}:${stack.config.mqttPort}\n`) +
          `Connection details (URL, API key, admin credentials, CA): ${localConfigPath(dataDir)}\n` +
          `Next, in another terminal: npx cvm admin register SN-0001 --local${dataDirFlag}\n` +
          'Stop with Ctrl-C.\n',
      );
      const signal = await context.waitForStop();
      context.stderr.write(`${signal}: stopping the local stack.\n`);
      await stack.close();
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('Expected a port number, 0-65535.');
  return port;
}

function portFromEnv(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return parsePort(value);
  } catch {
    throw new UsageError(`${name} must be a port number, 0-65535 (got "${value}").`);
  }
}
