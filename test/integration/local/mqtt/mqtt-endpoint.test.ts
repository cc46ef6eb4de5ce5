/**
 * The local MQTT endpoint with real MQTT clients (MQTT.js) over mutual TLS, in the local stack as `npm start` runs
 * it: devices registered and enrolled with the `cvm` command, then connecting with the files it wrote.
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceMqttError,
  DeviceMqttSession,
  readDeviceCredentials,
  type DeviceCredentials,
  type MqttTarget,
} from '../../../../client/device-mqtt.ts';
import { startLocalStack, type LocalStack } from '../../../../local/stack.ts';
import { cvm, registerAndEnrollWithCli } from '../../../unit/cli/support/run-cli.ts';

let dataDir: string;
let workDir: string;
let stack: LocalStack;
let target: MqttTarget;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-mqtt-data-'));
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-mqtt-work-'));
  stack = await startLocalStack({ dataDir, port: 0, mqttPort: 0, log: () => undefined });
  target = { host: stack.config.iotEndpoint, port: stack.config.mqttPort };
});

afterAll(async () => {
  await stack?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(workDir, { recursive: true, force: true });
});

/** Register and enroll `serial` with the `cvm` command; the device's files are in the returned directory. */
async function enrolledDevice(serial: string): Promise<{ dir: string; credentials: DeviceCredentials }> {
  const dir = path.join(workDir, serial);
  await registerAndEnrollWithCli(dataDir, serial, dir);
  return { dir, credentials: await readDeviceCredentials(dir) };
}

async function refusal(promise: Promise<unknown>): Promise<DeviceMqttError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeviceMqttError);
  return error as DeviceMqttError;
}

/** Connect with MQTT.js directly, for what DeviceMqttSession would not send (another client id, no certificate). */
function rawConnect(options: mqtt.IClientOptions): Promise<Error | 'connected'> {
  return new Promise((resolve) => {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: target.host,
      port: target.port,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...options,
    });
    client.once('connect', () => {
      client.end(true);
      resolve('connected');
    });
    client.once('error', (error) => {
      client.end(true);
      resolve(error);
    });
    client.once('close', () => resolve(new Error('closed')));
  });
}

describe('the local MQTT endpoint', () => {
  it('is in local.json and in the grant, as AWS IoT gives it: a host name', async () => {
    expect(stack.config.iotEndpoint).toBe('localhost');
    expect(stack.config.mqttPort).toBeGreaterThan(0);
    const { credentials } = await enrolledDevice('MQTT-GRANT-1');
    expect(credentials.iotEndpoint).toBe('localhost');
  });

  it('lets a device publish and subscribe under its own topics, and delivers to it', async () => {
    const { credentials } = await enrolledDevice('MQTT-OWN-1');
    const session = await DeviceMqttSession.open(credentials, target);
    try {
      await session.subscribe('things/MQTT-OWN-1/#');
      await session.publish('things/MQTT-OWN-1/telemetry', 'hello');
      expect(await session.waitForMessage('things/MQTT-OWN-1/telemetry', 10_000)).toEqual({
        topic: 'things/MQTT-OWN-1/telemetry',
        payload: 'hello',
      });
      await session.publish('$aws/things/MQTT-OWN-1/shadow/update', '{}');
    } finally {
      await session.end();
    }
  });

  it('disconnects a device that publishes to another thing’s topic', async () => {
    const { credentials } = await enrolledDevice('MQTT-PUB-1');
    const session = await DeviceMqttSession.open(credentials, target);
    const error = await refusal(session.publish('things/SOMEONE-ELSE/telemetry', 'x'));
    expect(error.errorType).toBe('NotAuthorized');
    expect(error.message).toContain('publish to things/SOMEONE-ELSE/telemetry refused');
    await session.end();
  });

  it('disconnects a device that subscribes to another thing’s topics, or to everything', async () => {
    const { credentials } = await enrolledDevice('MQTT-SUB-1');
    for (const filter of ['things/SOMEONE-ELSE/#', '#']) {
      const session = await DeviceMqttSession.open(credentials, target);
      expect((await refusal(session.subscribe(filter))).errorType).toBe('NotAuthorized');
      await session.end();
    }
  });

  it('refuses CONNECT with a client id other than the thing name (not authorized)', async () => {
    const { credentials } = await enrolledDevice('MQTT-ID-1');
    const result = await rawConnect({
      clientId: 'SOMEONE-ELSE',
      cert: credentials.certificatePem,
      key: credentials.keyPem,
      ca: credentials.caPem,
    });
    expect(result).toBeInstanceOf(Error);
    expect((result as Error & { code?: number }).code).toBe(5);
  });

  it('refuses a TLS client without a certificate, or with one the device CA did not sign', async () => {
    const { credentials } = await enrolledDevice('MQTT-TLS-1');
    expect(await rawConnect({ clientId: 'MQTT-TLS-1', ca: credentials.caPem })).toBeInstanceOf(Error);

    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=MQTT-TLS-1',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    const result = await rawConnect({
      clientId: 'MQTT-TLS-1',
      cert: selfSigned.toString('pem'),
      key: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`,
      ca: credentials.caPem,
    });
    expect(result).toBeInstanceOf(Error);
  });

  it('closes a live connection when the device is revoked, and refuses it from then on', async () => {
    const { credentials } = await enrolledDevice('MQTT-REVOKE-1');
    const session = await DeviceMqttSession.open(credentials, target);
    const closed = session.whenClosed();

    const revoked = await cvm(['admin', 'revoke', 'MQTT-REVOKE-1', '--reason', 'test', '--data-dir', dataDir]);
    expect(revoked.code).toBe(0);
    await closed;
    expect(session.isClosed).toBe(true);

    const error = await refusal(DeviceMqttSession.open(credentials, target));
    expect(error.errorType).toBe('NotAuthorized');
    await session.end();
  });

  it('closes a live connection when the device is reset, and its old certificate cannot connect again', async () => {
    const { credentials } = await enrolledDevice('MQTT-RESET-1');
    const session = await DeviceMqttSession.open(credentials, target);
    const closed = session.whenClosed();
    const reset = await cvm(['admin', 'reset', 'MQTT-RESET-1', '--data-dir', dataDir]);
    expect(reset.code).toBe(0);
    await closed;
    expect((await refusal(DeviceMqttSession.open(credentials, target))).errorType).toBe('NotAuthorized');
    await session.end();
  });
});

describe('cvm device connect', () => {
  it('connects with the enrolled files, subscribes, publishes and prints what came back', async () => {
    const { dir } = await enrolledDevice('CLI-CONNECT-1');
    const run = await cvm([
      'device',
      'connect',
      '--dir',
      dir,
      '--local',
      '--data-dir',
      dataDir,
      '--subscribe',
      'things/CLI-CONNECT-1/#',
      '--publish',
      'things/CLI-CONNECT-1/hello',
      '--message',
      'hi there',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Connected to localhost:${target.port} as CLI-CONNECT-1`);
    expect(run.stdout).toContain('Subscribed to things/CLI-CONNECT-1/#.');
    expect(run.stdout).toContain('Published to things/CLI-CONNECT-1/hello (acknowledged).');
    expect(run.stdout).toContain('Received on things/CLI-CONNECT-1/hello: hi there');
  });

  it('reports a publish the policy refuses, and exits 1', async () => {
    const { dir } = await enrolledDevice('CLI-CONNECT-2');
    const run = await cvm([
      'device',
      'connect',
      '--dir',
      dir,
      '--data-dir',
      dataDir,
      '--publish',
      'things/X/y',
      '--message',
      'm',
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Connected to');
    expect(run.stderr).toMatch(/^cvm: NotAuthorized: publish to things\/X\/y refused/);
  });

  it('reports a refused connection once the device is revoked', async () => {
    const { dir } = await enrolledDevice('CLI-CONNECT-3');
    expect((await cvm(['admin', 'revoke', 'CLI-CONNECT-3', '--reason', 'test', '--data-dir', dataDir])).code).toBe(0);
    const run = await cvm(['device', 'connect', '--dir', dir, '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^cvm: NotAuthorized: localhost:\d+ refused the connection: not authorized/);
  });

  it('speaks MQTT 5 with --mqtt-version 5, and reports a refused publish with its reason code', async () => {
    const { dir } = await enrolledDevice('CLI-CONNECT-5');
    const allowed = await cvm([
      ...['device', 'connect', '--dir', dir, '--data-dir', dataDir, '--mqtt-version', '5'],
      ...['--subscribe', 'things/CLI-CONNECT-5/#', '--publish', 'things/CLI-CONNECT-5/hello', '--message', 'hi'],
    ]);
    expect(allowed.stderr).toBe('');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain(`Connected to localhost:${target.port} as CLI-CONNECT-5 (MQTT 5, mutual TLS).`);
    expect(allowed.stdout).toContain('Received on things/CLI-CONNECT-5/hello: hi');

    const refused = await cvm([
      ...['device', 'connect', '--dir', dir, '--data-dir', dataDir, '--mqtt-version', '5'],
      ...['--publish', 'things/X/y', '--message', 'm'],
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('cvm: NotAuthorized: publish to things/X/y refused: not authorized (0x87).\n');

    expect((await cvm(['admin', 'revoke', 'CLI-CONNECT-5', '--reason', 'test', '--data-dir', dataDir])).code).toBe(0);
    const revoked = await cvm(['device', 'connect', '--dir', dir, '--data-dir', dataDir, '--mqtt-version', '5']);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(
      /^cvm: NotAuthorized: localhost:\d+ refused the connection: not authorized \(0x87\)/,
    );
  });

  it('refuses an MQTT version AWS IoT does not speak, with exit 2', async () => {
    const run = await cvm(['device', 'connect', '--dir', workDir, '--data-dir', dataDir, '--mqtt-version', '3.1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('3.1.1, 5');
  });

  it('says what to do when the directory holds no enrolled device', async () => {
    const run = await cvm(['device', 'connect', '--dir', path.join(workDir, 'nothing'), '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('run `cvm device enroll');
  });
});

describe('cvm smoke --local', () => {
  it('runs every step against the local stack, and leaves the device revoked', async () => {
    const run = await cvm(['smoke', '--local', '--data-dir', dataDir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.map((line) => /^(ok|FAIL)\s+(.+?)\s{2,}/.exec(line)?.[2])).toEqual([
      'register',
      'make key and enroll',
      'connect over MQTT',
      'publish to own topic',
      'publish elsewhere',
      'revoke',
      'connect after revoke',
      'clean up',
      undefined,
    ]);
    expect(lines.at(-1)).toMatch(/^Smoke test passed in/);
    const serial = /device (cvm-smoke-\S+),/.exec(run.stdout)?.[1];
    expect(serial).toBeDefined();
    const shown = await cvm(['admin', 'show', serial ?? '', '--data-dir', dataDir, '--json']);
    expect((JSON.parse(shown.stdout) as { device: { status: string } }).device.status).toBe('REVOKED');
  });
});
