import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StartLocalStack } from '../../../cli/context.ts';
import type { LocalConfig } from '../../../local/config.ts';
import { createTestCa, grantFor, type RequestCertificateCall, type TestCa } from '../client/support/fake-issuer.ts';
import { pendingDevice } from '../../support/device-fixture.ts';
import {
  graphqlBody,
  startTestGraphqlServer,
  type RecordedRequest,
  type ScriptedAnswer,
  type TestGraphqlServer,
} from '../client/support/https-graphql-server.ts';
import { GraphqlError } from '../../../client/errors.ts';
import { fakeRotationServer, type FakeRotationServer } from '../client/support/fake-rotation-server.ts';
import { cvm } from './support/run-cli.ts';

const API_KEY = 'local-device-api-key';
const ADMIN_KEY_ID = 'AKIALOCALADMIN';
const TOKEN = 'the-registration-token';

interface WireDevice {
  serialNumber: string;
  thingName: string;
  status: string;
  locked: boolean;
  attributes: string | null;
  publicKeyPin: string | null;
  certificateId: string | null;
  certificateArn: string | null;
  pendingCertificateId: string | null;
  confirmBy: string | null;
  registeredAt: string;
  tokenExpiresAt: string | null;
  issuedAt: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  updatedAt: string;
}

/** Just enough of cvm's API, kept in memory, to drive the commands. */
function fakeCvmApi(ca: TestCa) {
  const devices = new Map<string, WireDevice>();
  const register = (input: { serialNumber: string; thingName?: string; attributes?: string }) => {
    const device: WireDevice = {
      ...pendingDevice(input.serialNumber),
      thingName: input.thingName ?? input.serialNumber,
      attributes: input.attributes ?? null,
    };
    devices.set(device.serialNumber, device);
    return { registrationToken: `token-${device.serialNumber}`, tokenExpiresAt: device.tokenExpiresAt, device };
  };
  const refuse = (errorType: string, message: string): ScriptedAnswer => ({
    json: { data: null, errors: [{ errorType, message }] },
  });

  const respond = async (request: RecordedRequest): Promise<ScriptedAnswer> => {
    const { query, variables = {} } = graphqlBody(request);
    if (query.includes('requestCertificate(')) {
      const input = variables.input as RequestCertificateCall;
      if (input.registrationToken !== TOKEN)
        return refuse('InvalidRegistrationToken', 'Token and serial do not match.');
      return { json: { data: { requestCertificate: await grantFor(input, ca) } } };
    }
    if (query.includes('registerDevices(')) {
      const inputs = variables.input as { serialNumber: string; thingName?: string }[];
      const taken = inputs.filter((input) => devices.has(input.serialNumber));
      if (taken.length > 0) return refuse('DeviceAlreadyExists', `Taken: ${taken.map((i) => i.serialNumber).join()}`);
      return { json: { data: { registerDevices: inputs.map(register) } } };
    }
    if (query.includes('registerDevice(')) {
      return { json: { data: { registerDevice: register(variables.input as { serialNumber: string }) } } };
    }
    if (query.includes('devices(')) {
      return { json: { data: { devices: { items: [...devices.values()], nextToken: null } } } };
    }
    if (query.includes('deviceEvents(')) {
      const items = [
        {
          serialNumber: variables.serialNumber,
          type: 'REGISTERED',
          at: '2026-11-29T12:00:00.000Z',
          actor: 'arn:admin',
          details: '{"thingName":"x"}',
        },
      ];
      return { json: { data: { deviceEvents: { items, nextToken: null } } } };
    }
    if (query.includes('device(')) {
      return { json: { data: { device: devices.get(String(variables.serialNumber)) ?? null } } };
    }
    if (query.includes('pinPublicKey(')) {
      const device = devices.get(String(variables.serialNumber));
      if (device === undefined) return refuse('DeviceNotFound', 'No such device.');
      const publicKeyPin = variables.publicKey === null ? null : 'a'.repeat(64);
      devices.set(device.serialNumber, { ...device, publicKeyPin });
      return { json: { data: { pinPublicKey: devices.get(device.serialNumber) } } };
    }
    if (query.includes('renewCertificate(') || query.includes('confirmCertificate(')) {
      if (rotation === undefined) return refuse('GraphQLError', 'No rotation server in this test.');
      try {
        return { json: { data: await rotation.client.request(query, variables) } };
      } catch (error) {
        if (!(error instanceof GraphqlError)) throw error;
        return refuse(error.errorType, error.message);
      }
    }
    if (query.includes('reconcile(')) {
      const dryRun = (variables.input as { dryRun: boolean }).dryRun;
      const orphans = [
        {
          certificateId: 'c0ffee',
          serialNumber: 'SN-9',
          status: 'INACTIVE',
          action: dryRun ? 'would delete' : 'deleted',
        },
      ];
      return { json: { data: { reconcile: { scanned: 12, orphans, repaired: 1 } } } };
    }
    return refuse('GraphQLError', 'Unexpected operation in this test.');
  };
  let rotation: FakeRotationServer | undefined;
  return {
    devices,
    register,
    respond,
    /** Answer renewCertificate and confirmCertificate as `server` does. */
    rotateWith: (server: FakeRotationServer) => {
      rotation = server;
    },
  };
}

let server: TestGraphqlServer;
let ca: TestCa;
let api: ReturnType<typeof fakeCvmApi>;
let workDir: string;
let caFile: string;

beforeAll(async () => {
  [server, ca] = await Promise.all([startTestGraphqlServer(), createTestCa()]);
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  api = fakeCvmApi(ca);
  server.respondWith(api.respond);
  server.requests.length = 0;
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-cli-'));
  caFile = path.join(workDir, 'tls-ca.pem');
  await writeFile(caFile, server.caPem);
  const config: LocalConfig = {
    graphqlUrl: server.url,
    region: 'us-east-1',
    apiKey: API_KEY,
    adminAccessKeyId: ADMIN_KEY_ID,
    adminSecretAccessKey: 'local-admin-secret',
    tlsCaFile: caFile,
    deviceCaFile: caFile,
    iotEndpoint: 'localhost',
    mqttPort: 8883,
  };
  await writeFile(path.join(workDir, 'local.json'), JSON.stringify(config));
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const local = () => ['--data-dir', workDir];

describe('cvm device enroll', () => {
  it('enrolls with --endpoint, --api-key and --ca and prints where the files are', async () => {
    const out = path.join(workDir, 'device');

    const run = await cvm([
      'device',
      'enroll',
      '--serial',
      'SN-1',
      '--token',
      TOKEN,
      '--out',
      out,
      '--endpoint',
      server.url,
      '--api-key',
      API_KEY,
      '--ca',
      caFile,
    ]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Certificate:     ${path.join(out, 'device.cert.pem')}`);
    expect(server.requests[0]?.headers['x-api-key']).toBe(API_KEY);
    await access(path.join(out, 'device.cert.pem'));
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });

  it('takes the endpoint, API key and token from the environment', async () => {
    const out = path.join(workDir, 'device');
    const env = { CVM_ENDPOINT: server.url, CVM_API_KEY: API_KEY, CVM_REGISTRATION_TOKEN: TOKEN };

    const run = await cvm(['device', 'enroll', '--serial', 'SN-1', '--out', out, '--ca', caFile, '--json'], { env });

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ serialNumber: 'SN-1', thingName: 'thing-SN-1', keyType: 'ec-p256' });
  });

  it('enrolls against the local stack with --local, reading local.json', async () => {
    const run = await cvm([
      'device',
      'enroll',
      '--serial',
      'SN-1',
      '--token',
      TOKEN,
      '--out',
      path.join(workDir, 'device'),
      '--local',
      ...local(),
    ]);

    expect(run.code).toBe(0);
    expect(server.requests[0]?.headers['x-api-key']).toBe(API_KEY);
  });

  it('exits 1 with the error type when the token is wrong, without printing the token', async () => {
    const wrongToken = 'a-wrong-token-value';

    const run = await cvm([
      'device',
      'enroll',
      '--serial',
      'SN-1',
      '--token',
      wrongToken,
      '--out',
      path.join(workDir, 'device'),
      ...local(),
    ]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cvm: InvalidRegistrationToken: Token and serial do not match.');
    expect(run.stdout + run.stderr).not.toContain(wrongToken);
  });
});

describe('cvm device rotate', () => {
  /** A device enrolled with `cvm device enroll`, and a rotation server that holds its certificate. */
  async function enrolledDevice(serial = 'SN-1') {
    const out = path.join(workDir, 'device');
    const enrolled = await cvm(['device', 'enroll', '--serial', serial, '--token', TOKEN, '--out', out, ...local()]);
    expect(enrolled.code).toBe(0);
    const metadata = JSON.parse(await readFile(path.join(out, 'device.json'), 'utf8')) as { certificateId: string };
    const server = fakeRotationServer({
      ca,
      serialNumber: serial,
      currentCertificatePem: await readFile(path.join(out, 'device.cert.pem'), 'utf8'),
      currentCertificateId: metadata.certificateId,
      now: () => new Date(),
    });
    api.rotateWith(server);
    const deviceCa = path.join(workDir, 'device-ca.pem');
    await writeFile(deviceCa, ca.certificatePem);
    return { out, server, deviceCa, originalId: metadata.certificateId };
  }

  it('prints a line per step on stderr, and the new certificate on stdout', async () => {
    const { out, server, deviceCa, originalId } = await enrolledDevice();

    const run = await cvm([
      'device',
      'rotate',
      '--dir',
      out,
      '--check',
      'certificate',
      '--device-ca',
      deviceCa,
      ...local(),
    ]);

    expect(run.code).toBe(0);
    expect(run.stderr.split('\n')).toEqual([
      expect.stringMatching(/^ok {2}new key {8}made a new EC P-256 key in .*\/next\.key\.pem$/),
      expect.stringMatching(/^ok {2}renew {10}certificate [0-9a-f]{12}… issued, to be confirmed by \d{4}-\d\d-\d\dT/),
      'ok  check          the certificate is for the new key, names the device, is valid now and chains to CN=cvm test CA',
      expect.stringMatching(
        /^ok {2}confirm {8}certificate [0-9a-f]{12}… is the device's now; [0-9a-f]{12}… is revoked$/,
      ),
      'ok  replace files  device.key.pem, device.cert.pem, ca.pem and device.json hold the new key and certificate',
      '',
    ]);
    expect(run.stdout).toContain(`Certificate ID:        ${server.state.current.id}\n`);
    expect(run.stdout).toContain(`Previous certificate:  ${originalId} (revoked)\n`);
    expect(server.state.revoked).toEqual([originalId]);
  });

  it('prints the result as JSON with --json, with the key type asked for', async () => {
    const { out, deviceCa } = await enrolledDevice();

    const run = await cvm([
      'device',
      'rotate',
      '--dir',
      out,
      '--key-type',
      'ec-p384',
      '--json',
      '--check',
      'certificate',
      '--device-ca',
      deviceCa,
      ...local(),
    ]);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ serialNumber: 'SN-1', keyType: 'ec-p384' });
  });

  it('exits 1 with InvalidProof and what it means when the device is revoked; nothing is replaced', async () => {
    const { out, server, deviceCa } = await enrolledDevice();
    server.state.status = 'REVOKED';
    const before = await readFile(path.join(out, 'device.cert.pem'), 'utf8');

    const run = await cvm([
      'device',
      'rotate',
      '--dir',
      out,
      '--check',
      'certificate',
      '--device-ca',
      deviceCa,
      ...local(),
    ]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /\ncvm: InvalidProof: The server refused the renewal: .* The device was revoked or reset/,
    );
    expect(await readFile(path.join(out, 'device.cert.pem'), 'utf8')).toBe(before);
  });

  it('exits 1 with NotEnrolled for a directory enroll did not write', async () => {
    const run = await cvm(['device', 'rotate', '--dir', path.join(workDir, 'empty'), ...local()]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cvm: NotEnrolled: No enrolled device in ');
  });

  it('is a usage error without --local or --endpoint', async () => {
    const run = await cvm(['device', 'rotate', '--dir', workDir]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--local');
  });
});

describe('cvm admin', () => {
  it('register signs with the local admin credentials and prints the token and its expiry', async () => {
    const run = await cvm(['admin', 'register', 'SN-1', '--attributes', '{"model":"X1"}', ...local()]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Registered SN-1 (thing SN-1).');
    expect(run.stdout).toMatch(/Registration token: +token-SN-1\n/);
    expect(run.stdout).toMatch(/Expires: +2026-12-06T12:00:00.000Z\n/);
    expect(String(server.requests[0]?.headers.authorization)).toContain(`Credential=${ADMIN_KEY_ID}/`);
    expect(graphqlBody(server.requests[0]!).variables).toEqual({
      input: { serialNumber: 'SN-1', attributes: '{"model":"X1"}' },
    });
  });

  it('list prints a table of all devices, or JSON with --json', async () => {
    api.register({ serialNumber: 'SN-1' });
    api.register({ serialNumber: 'SN-22', thingName: 'pump-22' });

    const table = await cvm(['admin', 'list', ...local()]);
    const json = await cvm(['admin', 'list', '--json', ...local()]);

    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')).toEqual([
      'SERIAL  THING    STATUS   LOCKED  CERTIFICATE  REGISTERED',
      'SN-1    SN-1     PENDING                       2026-11-29T12:00:00.000Z',
      'SN-22   pump-22  PENDING                       2026-11-29T12:00:00.000Z',
      '',
    ]);
    const listed = JSON.parse(json.stdout) as { serialNumber: string }[];
    expect(listed.map((device) => device.serialNumber)).toEqual(['SN-1', 'SN-22']);
  });

  it('show prints the device and its events', async () => {
    api.register({ serialNumber: 'SN-1' });

    const run = await cvm(['admin', 'show', 'SN-1', '--json', ...local()]);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      device: { serialNumber: 'SN-1', status: 'PENDING' },
      events: [{ type: 'REGISTERED', details: { thingName: 'x' } }],
    });
  });

  it('list --rotation-pending asks for rotating devices and shows their pending certificate and deadline', async () => {
    api.register({ serialNumber: 'SN-1' });
    const device = api.devices.get('SN-1');
    if (device === undefined) throw new Error('not registered');
    api.devices.set('SN-1', {
      ...device,
      status: 'ACTIVE',
      certificateId: 'a'.repeat(64),
      pendingCertificateId: 'b'.repeat(64),
      confirmBy: '2026-12-09T12:00:00.000Z',
    });

    const run = await cvm(['admin', 'list', '--rotation-pending', ...local()]);

    expect(run.code).toBe(0);
    expect(graphqlBody(server.requests[0]!).variables).toMatchObject({ rotationPending: true });
    expect(run.stdout.split('\n')).toEqual([
      'SERIAL  THING  CERTIFICATE   PENDING CERTIFICATE  CONFIRM BY',
      'SN-1    SN-1   aaaaaaaaaaaa  bbbbbbbbbbbb         2026-12-09T12:00:00.000Z',
      '',
    ]);
  });

  it('list refuses --status with --rotation-pending (exit 2)', async () => {
    const run = await cvm(['admin', 'list', '--status', 'ACTIVE', '--rotation-pending', ...local()]);

    expect(run.code).toBe(2);
    expect(server.requests).toHaveLength(0);
  });

  it('show prints the pending certificate and its deadline during a rotation', async () => {
    api.register({ serialNumber: 'SN-1' });
    const device = api.devices.get('SN-1');
    if (device === undefined) throw new Error('not registered');
    api.devices.set('SN-1', { ...device, pendingCertificateId: 'b'.repeat(64), confirmBy: '2026-12-09T12:00:00.000Z' });

    const run = await cvm(['admin', 'show', 'SN-1', ...local()]);

    expect(run.stdout).toContain(
      `Pending certificate:  ${'b'.repeat(64)} (rotation under way: both certificates work until the device confirms)\n`,
    );
    expect(run.stdout).toContain(
      'Confirm by:           2026-12-09T12:00:00.000Z (else the pending certificate is revoked)\n',
    );
  });

  it('pin sends the PEM key of --public-key, or null with --clear, and needs one of them', async () => {
    api.register({ serialNumber: 'SN-1' });
    const keyFile = path.join(workDir, 'key.pub.pem');
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
    await writeFile(keyFile, pem);

    const pinned = await cvm(['admin', 'pin', 'SN-1', '--public-key', keyFile, ...local()]);
    const cleared = await cvm(['admin', 'pin', 'SN-1', '--clear', ...local()]);
    const neither = await cvm(['admin', 'pin', 'SN-1', ...local()]);
    const both = await cvm(['admin', 'pin', 'SN-1', '--clear', '--public-key', keyFile, ...local()]);

    expect([pinned.code, cleared.code, neither.code, both.code]).toEqual([0, 0, 2, 2]);
    expect(server.requests.map((request) => graphqlBody(request).variables)).toEqual([
      { serialNumber: 'SN-1', publicKey: pem },
      { serialNumber: 'SN-1', publicKey: null },
    ]);
    expect(pinned.stdout).toContain(`Pinned SN-1's next certificate to the key with SHA-256 ${'a'.repeat(64)}.`);
    expect(cleared.stdout).toBe('No key is pinned for SN-1: its next certificate may be for any accepted key.\n');
    expect(neither.stderr).toContain('--public-key FILE');
  });

  it('reconcile prints the report as JSON, or a summary and a table; --dry-run asks only to look', async () => {
    const json = await cvm(['admin', 'reconcile', '--json', ...local()]);
    const dryRun = await cvm(['admin', 'reconcile', '--dry-run', ...local()]);

    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      scanned: 12,
      orphans: [{ certificateId: 'c0ffee', serialNumber: 'SN-9', status: 'INACTIVE', action: 'deleted' }],
      repaired: 1,
    });
    expect(graphqlBody(server.requests[1]!).variables).toEqual({ input: { dryRun: true } });
    expect(dryRun.stdout.split('\n')).toEqual([
      'Scanned 12 recent certificates; 1 orphaned; 1 abandoned claims finished.',
      'CERTIFICATE  SERIAL  STATUS    ACTION',
      'c0ffee       SN-9    INACTIVE  would delete',
      '',
    ]);
  });

  it('show exits 1 with DeviceNotFound for an unknown serial', async () => {
    const run = await cvm(['admin', 'show', 'SN-404', ...local()]);

    expect(run.code).toBe(1);
    expect(run.stderr).toBe('cvm: DeviceNotFound: No device is registered with serial number SN-404.\n');
  });

  it('import appends tokens to a 0600 file and, run again, skips what is registered', async () => {
    const csv = path.join(workDir, 'devices.csv');
    const tokens = path.join(workDir, 'tokens.csv');
    await writeFile(csv, 'serialNumber,thingName\nSN-1,pump-1\nSN-2,\n');

    const first = await cvm(['admin', 'import', csv, '--out', tokens, ...local()]);
    await writeFile(csv, 'serialNumber,thingName\nSN-1,pump-1\nSN-2,\nSN-3,\n');
    const second = await cvm(['admin', 'import', csv, '--out', tokens, ...local()]);

    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect((await stat(tokens)).mode & 0o777).toBe(0o600);
    expect(await readFile(tokens, 'utf8')).toBe(
      'serialNumber,thingName,registrationToken,tokenExpiresAt\n' +
        'SN-1,pump-1,token-SN-1,2026-12-06T12:00:00.000Z\n' +
        'SN-2,SN-2,token-SN-2,2026-12-06T12:00:00.000Z\n' +
        'SN-3,SN-3,token-SN-3,2026-12-06T12:00:00.000Z\n',
    );
    expect(second.stderr).toContain('Skipped 2 already registered: SN-1, SN-2');
    expect(second.stdout).toContain('Registered 1 device(s)');
  });

  it('import exits 1 on a CSV it cannot use, before calling the API', async () => {
    const csv = path.join(workDir, 'devices.csv');
    await writeFile(csv, 'serialNumber,model\nSN-1,X1\n');

    const run = await cvm(['admin', 'import', csv, '--out', path.join(workDir, 'tokens.csv'), ...local()]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cvm: InvalidInput: Unknown CSV column(s): model.');
    expect(server.requests).toHaveLength(0);
  });
});

describe('cvm local start', () => {
  it('starts the stack, says where local.json is, and closes it when told to stop', async () => {
    const events: string[] = [];
    const startLocalStack: StartLocalStack = (options) => {
      events.push(`start ${options.dataDir} ${options.port}`);
      return Promise.resolve({
        config: { graphqlUrl: 'https://127.0.0.1:4100/graphql' },
        close: () => {
          events.push('close');
          return Promise.resolve();
        },
      });
    };

    const run = await cvm(['local', 'start', '--data-dir', workDir], {
      env: { CVM_PORT: '4100' },
      startLocalStack,
      waitForStop: () => {
        events.push('stop requested');
        return Promise.resolve('SIGINT');
      },
    });

    expect(run.code).toBe(0);
    expect(events).toEqual([`start ${workDir} 4100`, 'stop requested', 'close']);
    expect(run.stdout).toContain(`${path.join(workDir, 'local.json')}`);
    expect(run.stdout).toContain(`npx cvm admin register SN-0001 --local --data-dir ${workDir}`);
  });

  it('starts MQTT on CVM_MQTT_PORT (default 8883) and says where', async () => {
    const mqttPorts: (number | undefined)[] = [];
    const startLocalStack: StartLocalStack = (options) => {
      mqttPorts.push(options.mqttPort);
      return Promise.resolve({
        config: {
          graphqlUrl: 'https://127.0.0.1:4000/graphql',
          iotEndpoint: 'localhost',
          mqttPort: options.mqttPort ?? -1,
        },
        close: () => Promise.resolve(),
      });
    };
    const withEnv = await cvm(['local', 'start', '--data-dir', workDir], {
      env: { CVM_MQTT_PORT: '18883' },
      startLocalStack,
    });
    const byDefault = await cvm(['local', 'start', '--data-dir', workDir], { startLocalStack });
    const byFlag = await cvm(['local', 'start', '--mqtt-port', '0', '--data-dir', workDir], {
      env: { CVM_MQTT_PORT: '18883' },
      startLocalStack,
    });

    expect([withEnv.code, byDefault.code, byFlag.code]).toEqual([0, 0, 0]);
    expect(mqttPorts).toEqual([18883, 8883, 0]);
    expect(withEnv.stdout).toContain('MQTT endpoint (mutual TLS): localhost:18883');
  });

  it('prefers --port to CVM_PORT', async () => {
    const ports: number[] = [];
    const startLocalStack: StartLocalStack = (options) => {
      ports.push(options.port);
      return Promise.resolve({ config: { graphqlUrl: 'https://127.0.0.1:0/graphql' }, close: () => Promise.resolve() });
    };

    const run = await cvm(['local', 'start', '--port', '0', '--data-dir', workDir], {
      env: { CVM_PORT: '4100' },
      startLocalStack,
    });

    expect(run.code).toBe(0);
    expect(ports).toEqual([0]);
  });
});

describe('cvm local credentials', () => {
  it('refuses a session duration outside STS bounds with exit 2, before reading anything', async () => {
    const run = await cvm(['local', 'credentials', '--duration-seconds', '60', '--data-dir', workDir]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('900-43200');
  });

  it('tells a person to start the stack when there is no local.json', async () => {
    const run = await cvm(['local', 'credentials', '--data-dir', path.join(workDir, 'nothing-here')]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('npm start');
  });
});
