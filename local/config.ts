/**
 * `<data dir>/local.json`: what `npm start` writes so that clients (the `cvm` command, tests, curl)
 * can reach the local stack. Paths are absolute.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface LocalConfig {
  /** https://127.0.0.1:<port>/graphql */
  readonly graphqlUrl: string;
  readonly region: string;
  /** The device API key (sent as `x-api-key`). */
  readonly apiKey: string;
  readonly adminAccessKeyId: string;
  readonly adminSecretAccessKey: string;
  /** PEM file to trust for the HTTPS endpoint (the local TLS CA). */
  readonly tlsCaFile: string;
  /** PEM file of the CA that signs device certificates (the local device CA). */
  readonly deviceCaFile: string;
  /** Host name of the MQTT endpoint (`localhost`), as requestCertificate's iotEndpoint. */
  readonly iotEndpoint: string;
  /** Port of the MQTT endpoint (mutual TLS). */
  readonly mqttPort: number;
}

export const LOCAL_CONFIG_FILE = 'local.json';
export const DEFAULT_DATA_DIR = '.cvm';
export const DEFAULT_PORT = 4000;
/** AWS IoT's MQTT port. */
export const DEFAULT_MQTT_PORT = 8883;

export function localConfigPath(dataDir: string): string {
  return path.resolve(dataDir, LOCAL_CONFIG_FILE);
}

const REQUIRED_KEYS: readonly (keyof LocalConfig)[] = [
  'graphqlUrl',
  'region',
  'apiKey',
  'adminAccessKeyId',
  'adminSecretAccessKey',
  'tlsCaFile',
  'deviceCaFile',
  'iotEndpoint',
];

/** Read local.json, with an error that tells a person what to do when the stack has not been started. */
export async function readLocalConfig(dataDir: string = DEFAULT_DATA_DIR): Promise<LocalConfig> {
  const file = localConfigPath(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`No local stack configuration at ${file}. Start the local stack first with \`npm start\`.`, {
      cause: error,
    });
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${file} is not a JSON object.`);
  for (const key of REQUIRED_KEYS) {
    if (typeof (parsed as Record<string, unknown>)[key] !== 'string') {
      throw new Error(`${file} has no "${key}". Restart the local stack with \`npm start\` to rewrite it.`);
    }
  }
  if (typeof (parsed as Record<string, unknown>).mqttPort !== 'number') {
    throw new Error(`${file} has no "mqttPort". Restart the local stack with \`npm start\` to rewrite it.`);
  }
  return parsed as LocalConfig;
}
