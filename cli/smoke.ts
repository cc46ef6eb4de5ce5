/**
 * `cvm smoke`: the check to run right after `cdk deploy` (or against the local stack): one throwaway device goes
 * through the whole life a real one has — registered, enrolled with its own key, connected over MQTT, allowed on
 * its own topic and refused on another thing's, revoked, and refused from then on — with a line per step.
 *
 * Cleanup: cvm has no operation that deletes a device, on purpose (the audit trail outlives it). The smoke device is
 * left REVOKED under a name that says what it was (`cvm-smoke-<time>-<random>`), its certificate revoked as
 * evidence and detached from its thing and policy, and its private key is deleted from this machine. A reset is not
 * used: it would mint a new valid token and put the device back among those waiting to enroll. If a step fails
 * after enrollment, the device is revoked all the same, so no smoke run leaves an active certificate behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { createAdminApi } from '../client/admin-api.ts';
import { enrollDevice } from '../client/device-enroll.ts';
import {
  DeviceMqttError,
  DeviceMqttSession,
  IOT_MQTT_PORT,
  readDeviceCredentials,
  type DeviceCredentials,
  type MqttTarget,
} from '../client/device-mqtt.ts';
import { readLocalConfig } from '../local/config.ts';
import type { CliContext } from './context.ts';
import { addAdminConnectionOptions, adminClient, dataDir, deviceClient, type ConnectionFlags } from './connection.ts';

export class SmokeFailedError extends Error {
  override readonly name = 'SmokeFailedError';
  readonly errorType = 'SmokeFailed';
}

/** How long a refusal may take to appear after a revoke (AWS IoT applies it within seconds; locally at once). */
const REVOCATION_WAIT_MS = 60_000;
const RETRY_INTERVAL_MS = 2_000;

export function addSmokeCommand(program: Command, context: CliContext): void {
  const smoke = program
    .command('smoke')
    .description('enroll a throwaway device, connect over MQTT, check the policy, revoke it and check it is refused')
    .addOption(new Option('--api-key <key>', 'device API key, with --endpoint (env CVM_API_KEY)').conflicts('local'));
  addAdminConnectionOptions(smoke).action(async (flags: ConnectionFlags) => {
    await runSmoke(flags, context);
  });
}

async function runSmoke(flags: ConnectionFlags, context: CliContext): Promise<void> {
  const admin = createAdminApi(await adminClient(flags, context.env));
  const devices = await deviceClient(flags, context.env);
  const local = flags.local === true || flags.dataDir !== undefined;
  const localMqtt = local ? await readLocalConfig(dataDir(flags, context.env)) : undefined;

  const serial = `cvm-smoke-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
  const workDir = await mkdtemp(path.join(tmpdir(), 'cvm-smoke-'));
  const started = performance.now();
  const step = async <T>(name: string, run: () => Promise<T>, describe: (result: T) => string): Promise<T> => {
    const begun = performance.now();
    const elapsed = (): string => `${Math.round(performance.now() - begun)} ms`.padStart(8);
    try {
      const result = await run();
      context.stdout.write(`ok    ${name.padEnd(22)}${elapsed()}  ${describe(result)}\n`);
      return result;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      context.stdout.write(`FAIL  ${name.padEnd(22)}${elapsed()}  ${reason}\n`);
      throw new SmokeFailedError(`${name}: ${reason}`, { cause: error });
    }
  };

  let enrolled = false;
  let revoked = false;
  let session: DeviceMqttSession | undefined;
  try {
    const registration = await step(
      'register',
      () => admin.registerDevice({ serialNumber: serial, tokenTtlSeconds: 600 }),
      (result) => `device ${result.device.serialNumber}, thing ${result.device.thingName}`,
    );
    const grant = await step(
      'make key and enroll',
      async () => {
        const result = await enrollDevice({
          serialNumber: serial,
          registrationToken: registration.registrationToken,
          client: devices,
          outDir: workDir,
        });
        enrolled = true;
        return result;
      },
      (result) =>
        `certificate ${result.certificateId.slice(0, 12)}…, ${result.keyType} key, endpoint ${result.iotEndpoint}`,
    );
    const credentials = await readDeviceCredentials(workDir);
    const target = mqttTarget(grant.iotEndpoint, localMqtt);
    const thing = credentials.thingName;

    session = await step(
      'connect over MQTT',
      () => retry(() => DeviceMqttSession.open(credentials, target), local ? 1 : 5),
      () => `${target.host}:${target.port} as ${thing}`,
    );
    const open = session;
    const ownTopic = `things/${thing}/smoke`;
    await step(
      'publish to own topic',
      () => open.publish(ownTopic, JSON.stringify({ smoke: true })),
      () => `${ownTopic} acknowledged`,
    );
    const otherTopic = `things/${thing}-not-mine/smoke`;
    await step(
      'publish elsewhere',
      () => expectRefusal(() => open.publish(otherTopic, 'must be refused'), 'the policy allowed it'),
      (reason) => `${otherTopic} refused (${reason})`,
    );
    await session.end();
    await step(
      'revoke',
      async () => {
        const device = await admin.revokeCertificate(serial, 'cvm smoke test');
        revoked = true;
        return device;
      },
      (device) => `device ${device.status}`,
    );
    await step(
      'connect after revoke',
      () => refusedWithin(credentials, target, local ? 0 : REVOCATION_WAIT_MS),
      (reason) => `refused (${reason})`,
    );
    await step(
      'clean up',
      () => rm(workDir, { recursive: true, force: true }),
      () => `key deleted; ${serial} stays REVOKED as evidence (cvm deletes no device)`,
    );
    context.stdout.write(`Smoke test passed in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
  } finally {
    await session?.end();
    if (enrolled && !revoked) {
      await admin.revokeCertificate(serial, 'cvm smoke test failed').catch((error: unknown) => {
        context.stderr.write(`Could not revoke ${serial} after the failure: ${String(error)}. Revoke it yourself.\n`);
      });
    }
    await rm(workDir, { recursive: true, force: true });
  }
}

function mqttTarget(
  grantEndpoint: string | null,
  localConfig: { iotEndpoint: string; mqttPort: number } | undefined,
): MqttTarget {
  if (localConfig !== undefined) return { host: localConfig.iotEndpoint, port: localConfig.mqttPort };
  if (grantEndpoint === null) throw new SmokeFailedError('The grant names no IoT endpoint.');
  return { host: grantEndpoint, port: IOT_MQTT_PORT };
}

/** Resolves with the refusal's reason; rejects when `attempt` succeeds. */
async function expectRefusal(attempt: () => Promise<unknown>, whenAllowed: string): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    if (error instanceof DeviceMqttError) return error.errorType;
    throw error;
  }
  throw new Error(whenAllowed);
}

/** Connect until refused (a revocation takes effect within seconds in AWS IoT), for up to `waitMs`. */
async function refusedWithin(credentials: DeviceCredentials, target: MqttTarget, waitMs: number): Promise<string> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      const session = await DeviceMqttSession.open(credentials, target);
      await session.end();
    } catch (error) {
      // NotAuthorized is the local endpoint's answer; other refusals say what the endpoint did.
      if (error instanceof DeviceMqttError) {
        return error.errorType === 'NotAuthorized' ? error.errorType : `${error.errorType}: ${error.message}`;
      }
      throw error;
    }
    if (performance.now() >= deadline) throw new Error('the revoked certificate can still connect');
    await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS));
  }
}

/** A new certificate may take a moment to be usable in AWS IoT: try `attempts` times. */
async function retry<T>(attempt: () => Promise<T>, attempts: number): Promise<T> {
  for (let made = 1; ; made += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (made >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS));
    }
  }
}
