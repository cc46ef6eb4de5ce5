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
  certificateId: string | null;
  certificateArn: string | null;
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
  return { devices, register, respond };
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
