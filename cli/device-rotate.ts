/**
 * `cvm device rotate`: rotate an enrolled device's key and certificate with the files `cvm device enroll` wrote, as
 * its firmware would: a line per step on stderr, the result on stdout. Run it again after any failure: it resumes.
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { KEY_TYPES, type KeyType } from '../client/device-key.ts';
import { IOT_MQTT_PORT } from '../client/device-mqtt.ts';
import { rotateDevice, ROTATION_STEPS } from '../client/device-rotate.ts';
import { RotationError } from '../client/errors.ts';
import { checkOffline, checkOverMqtt, type CertificateCheck } from '../client/rotation-check.ts';
import { readLocalConfig } from '../local/config.ts';
import {
  addDeviceConnectionOptions,
  dataDir,
  deviceClient,
  usesLocalStack,
  type ConnectionFlags,
} from './connection.ts';
import type { CliContext } from './context.ts';
import { formatFields, printJson } from './output.ts';

const CHECKS = ['mqtt', 'certificate'] as const;
type CheckKind = (typeof CHECKS)[number];

interface RotateFlags extends ConnectionFlags {
  readonly dir: string;
  readonly keyType: KeyType;
  readonly check?: CheckKind;
  readonly deviceCa?: string;
  readonly json?: boolean;
}

/** AWS IoT may take a moment to accept a certificate it just activated. */
const REMOTE_MQTT_ATTEMPTS = 5;
const STEP_WIDTH = Math.max(...ROTATION_STEPS.map((step) => step.length));

export function addDeviceRotateCommand(device: Command, context: CliContext): void {
  const rotate = device
    .command('rotate')
    .description(
      'replace the key and certificate `cvm device enroll` wrote: new key, renew, check, confirm, replace the files ' +
        '(run it again after a failure: it resumes)',
    )
    .requiredOption('--dir <dir>', 'the directory `cvm device enroll --out` wrote')
    .addOption(new Option('--key-type <type>', 'type of the new key').choices(KEY_TYPES).default('ec-p256'))
    .addOption(
      new Option(
        '--check <how>',
        'how to check the new certificate before confirming it: connect over MQTT (default with --local), or ' +
          'check the certificate itself (default otherwise)',
      ).choices(CHECKS),
    )
    .option(
      '--device-ca <file>',
      'with --check certificate: PEM of the CA that issues device certificates, to check the chain (--local: the local one)',
    )
    .option('--json', 'print the result as JSON');
  addDeviceConnectionOptions(rotate).action(async (flags: RotateFlags) => {
    const client = await deviceClient(flags, context.env);
    const result = await rotateDevice({
      dir: flags.dir,
      client,
      keyType: flags.keyType,
      check: await certificateCheck(flags, context),
      onStep: ({ step, detail }) => context.stderr.write(`ok  ${step.padEnd(STEP_WIDTH)}  ${detail}\n`),
      onProgress: (message) => context.stderr.write(`${message}\n`),
    });
    if (flags.json === true) {
      printJson(context.stdout, result);
      return;
    }
    context.stdout.write(
      formatFields([
        ['Serial number', result.serialNumber],
        ['Thing name', result.thingName],
        ['Certificate ID', result.certificateId],
        [
          'Previous certificate',
          result.previousCertificateId === null ? null : `${result.previousCertificateId} (revoked)`,
        ],
        ['Key type', result.keyType],
        ['Certificate', result.files.certificate],
        ['Private key', result.files.key],
      ]),
    );
  });
}

async function certificateCheck(flags: RotateFlags, context: CliContext): Promise<CertificateCheck> {
  const local = usesLocalStack(flags, context.env);
  const config = local ? await readLocalConfig(dataDir(flags, context.env)) : undefined;
  const kind = flags.check ?? (local ? 'mqtt' : 'certificate');
  if (kind === 'certificate') {
    const issuerFile = flags.deviceCa ?? config?.deviceCaFile;
    return checkOffline(issuerFile === undefined ? {} : { issuerPem: await readFile(issuerFile, 'utf8') });
  }
  if (config !== undefined) return checkOverMqtt({ host: config.iotEndpoint, port: config.mqttPort });
  return (candidate) => {
    if (candidate.iotEndpoint === null || candidate.iotEndpoint === '') {
      return Promise.reject(
        new RotationError(
          'CheckFailed',
          'The grant names no IoT endpoint to connect to: use --check certificate. The new certificate was not confirmed.',
        ),
      );
    }
    const target = { host: candidate.iotEndpoint, port: IOT_MQTT_PORT };
    return checkOverMqtt(target, { attempts: REMOTE_MQTT_ATTEMPTS })(candidate);
  };
}
