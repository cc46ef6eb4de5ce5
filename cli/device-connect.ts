/**
 * `cvm device connect`: connect over MQTT with what `cvm device enroll` wrote, as the device's firmware would, and
 * say what happened: connected, published, subscribed, received, or refused and why.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  DeviceMqttSession,
  IOT_MQTT_PORT,
  MQTT_VERSIONS,
  readDeviceCredentials,
  type MqttTarget,
  type MqttVersion,
} from '../client/device-mqtt.ts';
import { readLocalConfig } from '../local/config.ts';
import type { CliContext } from './context.ts';
import { dataDir } from './connection.ts';
import { UsageError } from './errors.ts';

interface ConnectFlags {
  readonly dir: string;
  readonly publish?: string;
  readonly message?: string;
  readonly subscribe?: string;
  readonly wait: number;
  readonly local?: boolean;
  readonly dataDir?: string;
  readonly endpoint?: string;
  readonly port?: number;
  readonly mqttVersion: MqttVersion;
}

const DEFAULT_WAIT_SECONDS = 5;

export function addDeviceConnectCommand(device: Command, context: CliContext): void {
  device
    .command('connect')
    .description('connect over MQTT (mutual TLS) with the files `cvm device enroll` wrote; publish or subscribe')
    .requiredOption('--dir <dir>', 'the directory `cvm device enroll --out` wrote')
    .option('--publish <topic>', 'publish --message to this topic (QoS 1)')
    .option('--message <text>', 'what to publish')
    .option('--subscribe <filter>', 'subscribe to this topic filter and print what arrives')
    .option(
      '--wait <seconds>',
      `with --subscribe: how long to wait for messages (default ${DEFAULT_WAIT_SECONDS})`,
      parseSeconds,
      DEFAULT_WAIT_SECONDS,
    )
    .option('--local', 'the local stack’s MQTT endpoint (reads <data-dir>/local.json)')
    .addOption(new Option('--data-dir <dir>', 'local stack data directory; implies --local').conflicts('endpoint'))
    .addOption(
      new Option('--endpoint <host>', 'MQTT host (default: the iotEndpoint in device.json)').conflicts('local'),
    )
    .addOption(new Option('--port <port>', `MQTT port (default ${IOT_MQTT_PORT})`).argParser(parsePort))
    .addOption(
      new Option('--mqtt-version <version>', 'MQTT 3.1.1, or 5 (refusals then carry a reason code)')
        .choices(MQTT_VERSIONS)
        .default('3.1.1'),
    )
    .action(async (flags: ConnectFlags) => {
      if ((flags.publish === undefined) !== (flags.message === undefined)) {
        throw new UsageError('--publish TOPIC and --message TEXT go together.');
      }
      const credentials = await readDeviceCredentials(flags.dir);
      const target = await mqttTarget(flags, context, credentials.iotEndpoint);
      const session = await DeviceMqttSession.open(credentials, target, { mqttVersion: flags.mqttVersion });
      const out = (line: string): void => void context.stdout.write(`${line}\n`);
      out(
        `Connected to ${target.host}:${target.port} as ${credentials.thingName} (MQTT ${flags.mqttVersion}, mutual TLS).`,
      );
      try {
        if (flags.subscribe !== undefined) {
          await session.subscribe(flags.subscribe);
          out(`Subscribed to ${flags.subscribe}.`);
        }
        if (flags.publish !== undefined && flags.message !== undefined) {
          await session.publish(flags.publish, flags.message);
          out(`Published to ${flags.publish} (acknowledged).`);
        }
        if (flags.subscribe !== undefined) {
          // Stop early once our own message came back; otherwise collect for the whole wait.
          if (flags.publish !== undefined) await session.waitForMessage(flags.publish, flags.wait * 1000);
          else await new Promise((resolve) => setTimeout(resolve, flags.wait * 1000));
          for (const message of session.received) out(`Received on ${message.topic}: ${message.payload}`);
          if (session.received.length === 0) out(`No messages in ${flags.wait} s.`);
        }
      } finally {
        await session.end();
      }
    });
}

async function mqttTarget(flags: ConnectFlags, context: CliContext, grantEndpoint: string | null): Promise<MqttTarget> {
  if (flags.local === true || flags.dataDir !== undefined) {
    const config = await readLocalConfig(dataDir(flags, context.env));
    return { host: config.iotEndpoint, port: flags.port ?? config.mqttPort };
  }
  const host = flags.endpoint ?? grantEndpoint;
  if (host === null || host === '') {
    throw new UsageError('device.json names no IoT endpoint: give --endpoint HOST, or --local.');
  }
  return { host, port: flags.port ?? IOT_MQTT_PORT };
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65_535)
    throw new InvalidArgumentError('Expected a port number, 1-65535.');
  return port;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds > 3600) throw new InvalidArgumentError('Expected 0-3600 seconds.');
  return seconds;
}
