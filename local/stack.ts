/**
 * The local stack behind `npm start`: the same schema and resolver code as in AWS, with dynalite (on
 * disk) for DynamoDB and the local CA for AWS IoT, behind an HTTPS twin of AppSync. State lives in the
 * data dir and survives restarts; `local.json` there tells clients how to connect.
 */
import 'reflect-metadata';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_SETTINGS, type CoreContext, type CoreSettings } from '../resolvers/core/context.ts';
import { describeError } from '../resolvers/core/audit.ts';
import { sweepRotations } from '../resolvers/core/rotation/sweep.ts';
import { createFieldResolver } from '../resolvers/resolve-field.ts';
import { admitIssuances } from '../resolvers/admission.ts';
import { DEFAULT_IOT_CERTIFICATE_RATE, issuanceConcurrency } from '../contract/issuance-capacity.ts';
import { SCHEMA_FILE } from '../contract/schema-file.ts';
import { APPSYNC_REQUEST_LIMITS } from '../contract/request-limits.ts';
import { startAppSyncTwin } from './appsync-twin/server.ts';
import { openLocalTls } from './tls/local-tls.ts';
import { localConfigPath, type LocalConfig } from './config.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_ADMIN_ARN, loadOrCreateCredentials } from './credentials.ts';
import { verifySessionToken } from './session-credentials.ts';
import { JsonLinesTelemetry } from '../resolvers/adapters/telemetry/json-lines-telemetry.ts';

import { LOCAL_POLICY_NAME, LOCAL_REGION, openLocalCore } from './local-core.ts';
import { startMqttEndpoint, type MqttEndpoint } from './mqtt/mqtt-endpoint.ts';
import { devicePolicyDocument, type IotArnScope } from '../contract/device-policy.ts';

export { LOCAL_POLICY_NAME, LOCAL_REGION, LOCAL_TABLE_NAME } from './local-core.ts';

/** The host name of the local MQTT endpoint, as AWS IoT gives one (its server certificate names it). */
export const LOCAL_IOT_ENDPOINT = 'localhost';

/** The actor of the events the local rotation sweep writes. */
const ROTATION_SWEEP = { kind: 'system', name: 'rotation-sweep' } as const;

const LOCAL_ARN_SCOPE: IotArnScope = { partition: 'aws', region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

export interface LocalStackOptions {
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Port of the MQTT endpoint (TLS). Default 0, a free port; `npm start` uses 8883, as AWS IoT does. */
  readonly mqttPort?: number;
  readonly host?: string;
  /** Where log lines go (JSON, one per line). Default: stderr. */
  readonly log?: (line: string) => void;
  /** Core settings to override (tests shorten leases, for example). */
  readonly settings?: Partial<CoreSettings>;
  /**
   * Certificate issuances at once; more wait up to a second for a slot, then are answered Throttled.
   * Default: what the deployed API allows for AWS IoT's default quota (contract/issuance-capacity.ts).
   */
  readonly issuanceConcurrency?: number;
}

/**
 * How often the local stack runs the rotation sweep: a tenth of the rotation window, between a second and a
 * minute, so that a rollback happens close to its deadline (in AWS the reconciler's schedule runs it).
 */
export function rotationSweepIntervalMs(rotationWindowSeconds: number): number {
  return Math.min(60_000, Math.max(1_000, rotationWindowSeconds * 100));
}

/** How long a local requestCertificate waits for an issuance slot before it is answered Throttled. */
const LOCAL_ADMISSION_WAIT_MS = 1_000;

export interface LocalStack {
  readonly config: LocalConfig;
  readonly configFile: string;
  readonly telemetry: JsonLinesTelemetry;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const dataDir = path.resolve(options.dataDir);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const settings = { ...DEFAULT_SETTINGS, ...options.settings };
  // A live request must never be overtaken by a takeover: the lease outlasts the longest request.
  if (settings.leaseSeconds * 1000 <= settings.requestBudgetMs + settings.compensationBudgetMs) {
    throw new Error('leaseSeconds must outlast requestBudgetMs + compensationBudgetMs.');
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  const credentials = await loadOrCreateCredentials(dataDir);
  // TLS material sits beside the authority's files (`iot/`), where earlier versions kept it.
  const tls = await openLocalTls(path.join(dataDir, 'iot'));
  const telemetry = new JsonLinesTelemetry(log);
  const core = await openLocalCore({
    dataDir,
    settings,
    telemetry,
    // AWS gives a host name; the port is AWS IoT's 8883 in the cloud and local.json's mqttPort here.
    endpoint: { caCertificatePem: tls.ca.certPem, iotEndpoint: LOCAL_IOT_ENDPOINT },
  });
  let twin: Awaited<ReturnType<typeof startAppSyncTwin>>;
  let mqtt: MqttEndpoint;
  try {
    twin = await startAppSyncTwin({
      schemaSdl: await readFile(SCHEMA_FILE, 'utf8'),
      tls: { keyPem: tls.server.keyPem, certPem: tls.server.certPem },
      host: options.host ?? '127.0.0.1',
      port: options.port,
      region: LOCAL_REGION,
      apiKeys: [credentials.apiKey],
      adminCredentials: [
        {
          accessKeyId: credentials.adminAccessKeyId,
          secretAccessKey: credentials.adminSecretAccessKey,
          userArn: LOCAL_ADMIN_ARN,
          accountId: LOCAL_ACCOUNT_ID,
        },
      ],
      // `cvm local credentials` vends these for the same admin identity.
      resolveSession: (accessKeyId, sessionToken, now) => {
        const session = verifySessionToken(credentials.adminSecretAccessKey, accessKeyId, sessionToken, now);
        if (!session.valid) return { refused: session.reason };
        const { secretAccessKey } = session;
        return { accessKeyId, secretAccessKey, userArn: LOCAL_ADMIN_ARN, accountId: LOCAL_ACCOUNT_ID };
      },
      invoke: admitIssuances(createFieldResolver(core.ctx), {
        maxConcurrent: options.issuanceConcurrency ?? issuanceConcurrency(DEFAULT_IOT_CERTIFICATE_RATE),
        maxWaitMs: LOCAL_ADMISSION_WAIT_MS,
      }),
      limits: APPSYNC_REQUEST_LIMITS,
      log: (level, message, fields) => telemetry.log(level, message, fields),
    });
  } catch (error) {
    await core.close();
    throw error;
  }
  try {
    mqtt = await startMqttEndpoint({
      tls: { keyPem: tls.server.keyPem, certPem: tls.server.certPem },
      deviceCaPem: core.authority.deviceCa.certPem,
      registry: core.authority.authority.registry,
      policies: new Map([[LOCAL_POLICY_NAME, devicePolicyDocument(LOCAL_ARN_SCOPE)]]),
      arnScope: LOCAL_ARN_SCOPE,
      host: options.host ?? '127.0.0.1',
      port: options.mqttPort ?? 0,
      log: (level, message, fields) => telemetry.log(level, message, fields),
    });
    telemetry.log('info', 'mqtt endpoint listening', { endpoint: `${LOCAL_IOT_ENDPOINT}:${mqtt.port}` });
  } catch (error) {
    await twin.close();
    await core.close();
    throw error;
  }

  const config: LocalConfig = {
    graphqlUrl: twin.url,
    region: LOCAL_REGION,
    apiKey: credentials.apiKey,
    adminAccessKeyId: credentials.adminAccessKeyId,
    adminSecretAccessKey: credentials.adminSecretAccessKey,
    tlsCaFile: path.resolve(tls.ca.certFile),
    deviceCaFile: path.resolve(core.authority.deviceCa.certFile),
    iotEndpoint: LOCAL_IOT_ENDPOINT,
    mqttPort: mqtt.port,
  };
  const configFile = localConfigPath(dataDir);
  try {
    // It holds the admin secret: 0600 even when an older, looser file is being overwritten.
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    await chmod(configFile, 0o600);
  } catch (error) {
    await mqtt.close();
    await twin.close();
    await core.close();
    throw error;
  }

  const sweep = startRotationSweep(core.ctx, rotationSweepIntervalMs(settings.rotationWindowSeconds));
  let closing: Promise<void> | undefined;
  return {
    config,
    configFile,
    telemetry,
    close: () => {
      closing ??= (async () => {
        await sweep.stop();
        await mqtt.close();
        await twin.close();
        await core.close();
      })();
      return closing;
    },
  };
}

/** Run the rotation sweep every `intervalMs`, one run at a time; `stop` waits for a run under way. */
function startRotationSweep(ctx: CoreContext, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        await sweepRotations(ctx, false, ROTATION_SWEEP);
      } catch (error) {
        ctx.telemetry.log('error', 'The rotation sweep failed; it runs again shortly', { error: describeError(error) });
      }
    });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
