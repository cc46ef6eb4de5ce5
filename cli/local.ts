/** `cvm local start`: the local stack (HTTPS GraphQL twin of AppSync, dynalite, local CA) in the foreground. */
import { InvalidArgumentError, type Command } from 'commander';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_MQTT_PORT,
  DEFAULT_PORT,
  localConfigPath,
  readLocalConfig,
} from '../local/config.ts';
import { SESSION_DURATION_BOUNDS, issueTemporaryCredentials } from '../local/session-credentials.ts';
import { DEFAULT_SETTINGS, LOCAL_ROTATION_WINDOW_BOUNDS } from '../resolvers/core/context.ts';
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
    .option(
      '--rotation-window <seconds>',
      `how long a renewed device has to confirm its new certificate (env CVM_ROTATION_WINDOW_SECONDS, default ${DEFAULT_SETTINGS.rotationWindowSeconds})`,
      parseRotationWindow,
    )
    .action(async (flags: { port?: number; mqttPort?: number; dataDir?: string; rotationWindow?: number }) => {
      const port = flags.port ?? portFromEnv('CVM_PORT', context.env.CVM_PORT) ?? DEFAULT_PORT;
      const mqttPort = flags.mqttPort ?? portFromEnv('CVM_MQTT_PORT', context.env.CVM_MQTT_PORT) ?? DEFAULT_MQTT_PORT;
      const dataDir = dataDirOf(flags, context.env);
      const envWindow = context.env.CVM_ROTATION_WINDOW_SECONDS;
      const rotationWindowSeconds =
        flags.rotationWindow ??
        (envWindow === undefined || envWindow === ''
          ? undefined
          : rotationWindowFrom(envWindow, 'CVM_ROTATION_WINDOW_SECONDS'));
      // Loaded on demand: devices and admins never need dynalite and the local CA.
      const start: StartLocalStack = context.startLocalStack ?? (await import('../local/stack.ts')).startLocalStack;
      const stack = await start({
        dataDir,
        port,
        mqttPort,
        log: (line) => context.stderr.write(`${line}\n`),
        ...(rotationWindowSeconds === undefined ? {} : { settings: { rotationWindowSeconds } }),
      });
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

  addCredentialsCommand(local, context);
}

function rotationWindowFrom(value: string, source: string): number {
  const seconds = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  const { min, max } = LOCAL_ROTATION_WINDOW_BOUNDS;
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new UsageError(`${source} must be a whole number of seconds from ${min} to ${max}, not "${value}".`);
  }
  return seconds;
}

function parseRotationWindow(value: string): number {
  try {
    return rotationWindowFrom(value, '--rotation-window');
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

function addCredentialsCommand(local: Command, context: CliContext): void {
  const { min, max } = SESSION_DURATION_BOUNDS;
  local
    .command('credentials')
    .description(
      'temporary credentials (access key, secret, session token, expiry) for the local admin, as STS vends them; ' +
        '--json prints the AWS credential_process format',
    )
    .option('--json', 'print {Version, AccessKeyId, SecretAccessKey, SessionToken, Expiration}')
    .option(
      '--duration-seconds <seconds>',
      `how long they last, ${min}-${max} (default ${SESSION_DURATION_BOUNDS.default})`,
      parseDuration,
    )
    .option('--data-dir <dir>', `the local stack's data dir (env CVM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .action(async (flags: { json?: boolean; durationSeconds?: number; dataDir?: string }) => {
      const config = await readLocalConfig(dataDirOf(flags, context.env));
      const session = issueTemporaryCredentials(config.adminSecretAccessKey, new Date(), flags.durationSeconds);
      if (flags.json === true) {
        const processFormat = {
          Version: 1,
          AccessKeyId: session.accessKeyId,
          SecretAccessKey: session.secretAccessKey,
          SessionToken: session.sessionToken,
          Expiration: session.expiration.toISOString(),
        };
        context.stdout.write(`${JSON.stringify(processFormat, null, 2)}\n`);
        return;
      }
      context.stdout.write(
        `export AWS_ACCESS_KEY_ID=${session.accessKeyId}\n` +
          `export AWS_SECRET_ACCESS_KEY=${session.secretAccessKey}\n` +
          `export AWS_SESSION_TOKEN=${session.sessionToken}\n` +
          `export AWS_REGION=${config.region}\n` +
          `# valid until ${session.expiration.toISOString()}\n`,
      );
    });
}

function parseDuration(value: string): number {
  const seconds = Number(value);
  const { min, max } = SESSION_DURATION_BOUNDS;
  if (!/^\d+$/.test(value) || seconds < min || seconds > max) {
    throw new InvalidArgumentError(`Expected a whole number of seconds, ${min}-${max}.`);
  }
  return seconds;
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
