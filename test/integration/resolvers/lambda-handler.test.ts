/**
 * The Lambda entry end to end, as AppSync's APPSYNC_JS resolver (resolvers/appsync/invoke.js) calls it:
 * real DynamoDB requests against dynalite, reached the way the deployed function reaches DynamoDB (a client
 * configured by the environment alone), and AWS IoT faked at the SDK's `send`, where the exact commands and
 * inputs cvm sends are checked. The fake signs CSRs with a local CA, so certificates and ids are real ones.
 */
import 'reflect-metadata';
import { X509Certificate, randomBytes } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CertificateStateException,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ThrottlingException,
  UpdateCertificateCommand,
  ListCertificatesCommand,
  type CreateCertificateFromCsrCommandInput,
  type CreateCertificateFromCsrCommandOutput,
  type CreateThingCommandInput,
} from '@aws-sdk/client-iot';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ensureTable } from '../../../local/dynalite.ts';
import { certificateArn } from '../../../resolvers/adapters/authority/local-ca/certificate-arn.ts';
import {
  issueDeviceCertificate,
  type IssuedCertificate,
} from '../../../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { createCa, type LocalCa } from '../../../resolvers/adapters/authority/local-ca/local-ca.ts';
import type { DeviceEventView, DeviceView } from '../../../resolvers/core/device-view.ts';
import type { Connection } from '../../../resolvers/core/query-devices.ts';
import type { DeviceRegistration } from '../../../resolvers/core/register-devices.ts';
import type { CertificateGrant } from '../../../resolvers/core/request-certificate.ts';
import type { ResolverEnvelope, ResolverEvent } from '../../../contract/lambda-envelope.ts';
import { createLambdaHandler, handler } from '../../../resolvers/lambda.ts';
import { makeCsr, type MadeCsr } from '../../support/csr.ts';
import { certificateDer, pemBody, proofBy } from '../../support/rotation.ts';
import { startTestTable, type TestTable } from '../../support/dynalite.ts';

const POLICY_NAME = 'cvm-device-policy';
const THING_NAME_PREFIX = 'plant7-';
const TOKEN_TTL_SECONDS = 3600;
const IOT_ENDPOINT = 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com';
const ACCOUNT = { region: 'eu-west-1', accountId: '123456789012' };

/** The identity AppSync passes for a SigV4-signed (AWS_IAM) request. */
const ADMIN_IDENTITY = {
  accountId: ACCOUNT.accountId,
  cognitoIdentityAuthProvider: null,
  cognitoIdentityAuthType: null,
  cognitoIdentityId: null,
  cognitoIdentityPoolId: null,
  sourceIp: ['203.0.113.10'],
  userArn: `arn:aws:iam::${ACCOUNT.accountId}:user/cvm-admin`,
  username: 'AIDAEXAMPLEADMIN',
};

/** Found by subject in Node's root store, independently of the adapter's own lookup. */
function amazonRootCa1(): string {
  const pem = rootCertificates.find((root) =>
    new X509Certificate(root).subject.split('\n').includes('CN=Amazon Root CA 1'),
  );
  if (pem === undefined) throw new Error("Amazon Root CA 1 is not in this Node's root store");
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

const iot = mockClient(IoTClient);

let table: TestTable;
let fakeIotCa: LocalCa;
/** Every certificate the fake AWS IoT signed during the current test, in order. */
let signed: IssuedCertificate[] = [];
let handle: ReturnType<typeof createLambdaHandler>;
/** What the function wrote to stdout/stderr (Powertools logs and EMF metrics) during the current test. */
let output: string[] = [];
let serialCounter = 0;

function lambdaEnv(overrides: Readonly<Record<string, string | undefined>> = {}): Record<string, string | undefined> {
  return {
    CVM_TABLE_NAME: table.tableName,
    CVM_DEVICE_POLICY_NAME: POLICY_NAME,
    CVM_THING_NAME_PREFIX: THING_NAME_PREFIX,
    CVM_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
    ...overrides,
  };
}

/** CreateCertificateFromCsr as AWS IoT answers it: the CSR signed, the id the SHA-256 of the DER. */
async function signLikeIot(
  input: CreateCertificateFromCsrCommandInput,
): Promise<Partial<CreateCertificateFromCsrCommandOutput>> {
  const certificate = await issueDeviceCertificate(fakeIotCa, input.certificateSigningRequest ?? '');
  signed.push(certificate);
  return {
    certificateId: certificate.certificateId,
    certificateArn: certificateArn(ACCOUNT, certificate.certificateId),
    certificatePem: certificate.certificatePem,
  };
}

function acceptEveryIotCall(): void {
  iot.on(CreateCertificateFromCsrCommand).callsFake(signLikeIot);
  iot.on(CreateThingCommand).callsFake((input: CreateThingCommandInput) => ({
    thingName: input.thingName,
    thingArn: `arn:aws:iot:${ACCOUNT.region}:${ACCOUNT.accountId}:thing/${input.thingName}`,
  }));
  iot.on(AttachPolicyCommand).resolves({});
  iot.on(AttachThingPrincipalCommand).resolves({});
  iot.on(UpdateCertificateCommand).resolves({});
  iot.on(DetachPolicyCommand).resolves({});
  iot.on(DetachThingPrincipalCommand).resolves({});
  iot.on(DeleteCertificateCommand).resolves({});
  iot.on(DescribeEndpointCommand).resolves({ endpointAddress: IOT_ENDPOINT });
}

const throttling = (): ThrottlingException => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} });

/** The IoT commands sent so far, by name without the `Command` suffix, with their inputs. */
function sentToIot(): { name: string; input: unknown }[] {
  return iot.calls().map((call) => {
    const command = call.args[0];
    return { name: command.constructor.name.replace(/Command$/, ''), input: command.input };
  });
}

function appsyncEvent(field: string, args: Record<string, unknown>, identity: object | null): ResolverEvent {
  const [parentTypeName, fieldName] = field.split('.');
  // Lambda carries JSON both ways; the round trip keeps the test honest about what survives it.
  return JSON.parse(JSON.stringify({ parentTypeName, fieldName, arguments: args, identity })) as ResolverEvent;
}

async function invoke(
  field: string,
  args: Record<string, unknown>,
  identity: object | null = ADMIN_IDENTITY,
): Promise<ResolverEnvelope> {
  return JSON.parse(JSON.stringify(await handle(appsyncEvent(field, args, identity)))) as ResolverEnvelope;
}

/** The envelope's data; fails the test with the envelope when it is an error. */
async function dataOf<T>(field: string, args: Record<string, unknown>, identity?: object | null): Promise<T> {
  const envelope = await invoke(field, args, identity);
  if (!('data' in envelope)) throw new Error(`${field} answered ${JSON.stringify(envelope)}`);
  return envelope.data as T;
}

interface RegisteredDevice {
  readonly serial: string;
  readonly thingName: string;
  readonly token: string;
}

async function registerDevice(attributes?: string): Promise<RegisteredDevice> {
  serialCounter += 1;
  const serial = `LH-${String(serialCounter).padStart(4, '0')}`;
  const input = attributes === undefined ? { serialNumber: serial } : { serialNumber: serial, attributes };
  const registration = await dataOf<DeviceRegistration>('Mutation.registerDevice', { input });
  return { serial, thingName: registration.device.thingName, token: registration.registrationToken };
}

/** requestCertificate as a device sends it: API key, so no identity. */
function requestCertificate(device: { serial: string; token: string }, csr: MadeCsr): Promise<ResolverEnvelope> {
  return invoke(
    'Mutation.requestCertificate',
    { input: { serialNumber: device.serial, registrationToken: device.token, csr: csr.csrPem } },
    null,
  );
}

async function enrolledDevice(): Promise<RegisteredDevice & { grant: CertificateGrant }> {
  const device = await registerDevice();
  const envelope = await requestCertificate(device, await makeCsr({ commonName: device.serial }));
  if (!('data' in envelope)) throw new Error(`enrollment answered ${JSON.stringify(envelope)}`);
  return { ...device, grant: envelope.data as CertificateGrant };
}

function revocationCommands(thingName: string, grant: CertificateGrant): { name: string; input: unknown }[] {
  return [
    { name: 'UpdateCertificate', input: { certificateId: grant.certificateId, newStatus: 'REVOKED' } },
    { name: 'DetachPolicy', input: { policyName: POLICY_NAME, target: grant.certificateArn } },
    { name: 'DetachThingPrincipal', input: { thingName, principal: grant.certificateArn } },
  ];
}

/** Commands sent concurrently have no meaningful order; compare them sorted by name. */
function byName<T extends { name: string }>(commands: readonly T[]): T[] {
  return [...commands].sort((a, b) => a.name.localeCompare(b.name));
}

/** Collect what the function writes instead of printing it; `vi.restoreAllMocks()` ends the capture. */
function captureOutput(): void {
  output = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    output.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
}

function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
}

beforeAll(async () => {
  table = await startTestTable();
  ({ ca: fakeIotCa } = await createCa({ commonName: 'fake AWS IoT device CA' }));
  // What the Lambda runtime provides. The DynamoDB client the handler builds reads these, and the
  // service-specific endpoint variable points it at dynalite.
  vi.stubEnv('AWS_REGION', ACCOUNT.region);
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDLAMBDATEST');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'lambda-test-secret');
  vi.stubEnv('AWS_SESSION_TOKEN', undefined);
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_ENDPOINT_URL', undefined);
  vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', undefined);
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', table.endpoint);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await table.close();
});

beforeEach(() => {
  iot.reset();
  acceptEveryIotCall();
  signed = [];
  captureOutput();
  handle = createLambdaHandler(lambdaEnv());
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  // The device's key never leaves the device: AWS IoT must never be asked to make one.
  expect(iot.commandCalls(CreateKeysAndCertificateCommand)).toHaveLength(0);
});

describe('createLambdaHandler', () => {
  it.each([
    ['CVM_TABLE_NAME is missing', { CVM_TABLE_NAME: undefined }, /CVM_TABLE_NAME must be set/],
    ['CVM_TABLE_NAME is empty', { CVM_TABLE_NAME: '' }, /CVM_TABLE_NAME must be set/],
    ['CVM_DEVICE_POLICY_NAME is missing', { CVM_DEVICE_POLICY_NAME: undefined }, /CVM_DEVICE_POLICY_NAME must be set/],
    ['CVM_TOKEN_TTL_SECONDS is not a number', { CVM_TOKEN_TTL_SECONDS: 'a week' }, /CVM_TOKEN_TTL_SECONDS must be/],
    ['CVM_TOKEN_TTL_SECONDS is not whole', { CVM_TOKEN_TTL_SECONDS: '90.5' }, /CVM_TOKEN_TTL_SECONDS must be/],
    ['CVM_TOKEN_TTL_SECONDS is under a minute', { CVM_TOKEN_TTL_SECONDS: '59' }, /from 60 to 31536000/],
    ['CVM_TOKEN_TTL_SECONDS is over a year', { CVM_TOKEN_TTL_SECONDS: '31536001' }, /from 60 to 31536000/],
    [
      'CVM_ROTATION_WINDOW_SECONDS is not a number',
      { CVM_ROTATION_WINDOW_SECONDS: '7d' },
      /CVM_ROTATION_WINDOW_SECONDS/,
    ],
    ['CVM_ROTATION_WINDOW_SECONDS is under a minute', { CVM_ROTATION_WINDOW_SECONDS: '59' }, /from 60 to 31536000/],
  ])('refuses to start when %s', (_why, overrides, message) => {
    expect(() => createLambdaHandler(lambdaEnv(overrides))).toThrow(message);
  });

  it('gives registration tokens a 7-day lifetime when CVM_TOKEN_TTL_SECONDS is unset', async () => {
    handle = createLambdaHandler(lambdaEnv({ CVM_TOKEN_TTL_SECONDS: undefined }));

    const { device, tokenExpiresAt } = await dataOf<DeviceRegistration>('Mutation.registerDevice', {
      input: { serialNumber: 'LH-DEFAULT-TTL' },
    });

    expect(Date.parse(tokenExpiresAt) - Date.parse(device.registeredAt)).toBe(7 * 24 * 3600 * 1000);
  });
});

describe('registerDevice', () => {
  it('registers a device for an IAM caller in the table the environment names', async () => {
    const registration = await dataOf<DeviceRegistration>('Mutation.registerDevice', {
      input: { serialNumber: 'LH-REGISTER', attributes: '{"model":"X1"}' },
    });

    expect(registration.registrationToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(registration.device).toMatchObject({
      serialNumber: 'LH-REGISTER',
      thingName: `${THING_NAME_PREFIX}LH-REGISTER`,
      status: 'PENDING',
      attributes: { model: 'X1' },
      certificateId: null,
    });
    expect(Date.parse(registration.tokenExpiresAt) - Date.parse(registration.device.registeredAt)).toBe(
      TOKEN_TTL_SECONDS * 1000,
    );
    // Read back through a client of our own: the handler's writes reached dynalite.
    expect(await table.store.get('LH-REGISTER')).toMatchObject({ status: 'PENDING', version: 1 });
    const events = await dataOf<Connection<DeviceEventView>>('Query.deviceEvents', { serialNumber: 'LH-REGISTER' });
    expect(events.items).toEqual([expect.objectContaining({ type: 'REGISTERED', actor: ADMIN_IDENTITY.userArn })]);
    // Registering asks AWS IoT nothing (the handler fetched the IoT endpoint once, as it started).
    expect(sentToIot().map((call) => call.name)).toEqual(['DescribeEndpoint']);
  });
});

describe('requestCertificate', () => {
  it('issues through AWS IoT with exactly the expected commands and answers with the grant', async () => {
    const device = await registerDevice('{"model":"X1"}');
    const csr = await makeCsr({ commonName: device.serial });

    const envelope = await requestCertificate(device, csr);

    const [certificate] = signed;
    if (certificate === undefined) throw new Error('AWS IoT was not asked for a certificate');
    const arn = certificateArn(ACCOUNT, certificate.certificateId);
    expect(envelope).toEqual({
      data: {
        serialNumber: device.serial,
        thingName: device.thingName,
        certificateId: certificate.certificateId,
        certificateArn: arn,
        certificatePem: certificate.certificatePem,
        caCertificatePem: amazonRootCa1(),
        iotEndpoint: IOT_ENDPOINT,
        issuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        confirmBy: null,
      },
    });
    expect(byName(sentToIot())).toEqual(
      byName([
        { name: 'CreateCertificateFromCsr', input: { certificateSigningRequest: csr.csrPem, setAsActive: false } },
        {
          name: 'CreateThing',
          input: { thingName: device.thingName, attributePayload: { attributes: { model: 'X1' } } },
        },
        { name: 'AttachPolicy', input: { policyName: POLICY_NAME, target: arn } },
        {
          name: 'AttachThingPrincipal',
          input: { thingName: device.thingName, principal: arn, thingPrincipalType: 'EXCLUSIVE_THING' },
        },
        { name: 'UpdateCertificate', input: { certificateId: certificate.certificateId, newStatus: 'ACTIVE' } },
        { name: 'DescribeEndpoint', input: { endpointType: 'iot:Data-ATS' } },
      ]),
    );
    // The endpoint is fetched as the handler starts; the certificate is activated last, once attached.
    expect(sentToIot()[0]?.name).toBe('DescribeEndpoint');
    expect(sentToIot().at(-1)?.name).toBe('UpdateCertificate');
    expect(await table.store.get(device.serial)).toMatchObject({
      status: 'ACTIVE',
      certificateId: certificate.certificateId,
    });
  });

  it('writes neither the token nor the CSR to the function log', async () => {
    const device = await registerDevice();
    const csr = await makeCsr({ commonName: device.serial });

    await requestCertificate(device, csr);

    const written = output.join('');
    expect(written).toContain('Certificate issued');
    expect(written).not.toContain(device.token);
    for (const line of pemBodyLines(csr.csrPem)) expect(written).not.toContain(line);
  });

  it('undoes the certificate in AWS IoT when attaching the thing fails, and a retry then succeeds', async () => {
    const device = await registerDevice();
    const csr = await makeCsr({ commonName: device.serial });
    iot.on(AttachThingPrincipalCommand).rejectsOnce(new Error('socket hang up')).resolves({});

    const failed = await requestCertificate(device, csr);

    expect(failed).toEqual({ error: { errorType: 'InternalError', message: expect.any(String) as unknown } });
    expect(JSON.stringify(failed)).not.toContain('socket hang up');
    const [certificate] = signed;
    if (certificate === undefined) throw new Error('AWS IoT was not asked for a certificate');
    const arn = certificateArn(ACCOUNT, certificate.certificateId);
    const sent = sentToIot();
    const afterFailure = sent.slice(sent.findIndex((command) => command.name === 'AttachThingPrincipal') + 1);
    expect(afterFailure[0]).toEqual({
      name: 'UpdateCertificate',
      input: { certificateId: certificate.certificateId, newStatus: 'INACTIVE' },
    });
    expect(byName(afterFailure.slice(1, 3))).toEqual([
      { name: 'DetachPolicy', input: { policyName: POLICY_NAME, target: arn } },
      { name: 'DetachThingPrincipal', input: { thingName: device.thingName, principal: arn } },
    ]);
    expect(afterFailure.slice(3)).toEqual([
      { name: 'DeleteCertificate', input: { certificateId: certificate.certificateId } },
    ]);
    expect(iot.commandCalls(UpdateCertificateCommand, { newStatus: 'ACTIVE' })).toHaveLength(0);
    const released = await table.store.get(device.serial);
    expect(released?.status).toBe('PENDING');
    expect(released?.certificateId).toBeUndefined();

    const retried = await requestCertificate(device, csr);

    expect(retried).toMatchObject({ data: { certificateId: signed[1]?.certificateId } });
    expect((await table.store.get(device.serial))?.status).toBe('ACTIVE');
  });

  it('retries a throttled CreateCertificateFromCsr and issues', async () => {
    const device = await registerDevice();
    iot.on(CreateCertificateFromCsrCommand).rejectsOnce(throttling()).rejectsOnce(throttling()).callsFake(signLikeIot);

    const envelope = await requestCertificate(device, await makeCsr({ commonName: device.serial }));

    expect(envelope).toMatchObject({ data: { certificateId: signed[0]?.certificateId } });
    expect(iot.commandCalls(CreateCertificateFromCsrCommand)).toHaveLength(3);
    expect((await table.store.get(device.serial))?.status).toBe('ACTIVE');
  });

  it('answers Throttled when AWS IoT throttles for the whole budget, and the token still works later', async () => {
    const device = await registerDevice();
    const csr = await makeCsr({ commonName: device.serial });
    // The handler sleeps for real between attempts. Each throttled answer takes three seconds of mocked
    // time, so the 12-second budget runs out after a few attempts and a fraction of a second of real sleep.
    vi.useFakeTimers({ toFake: ['Date'] });
    iot.on(CreateCertificateFromCsrCommand).callsFake(() => {
      vi.setSystemTime(Date.now() + 3_000);
      return Promise.reject(throttling());
    });

    const throttled = await requestCertificate(device, csr);

    vi.useRealTimers();
    expect(throttled).toEqual({ error: { errorType: 'Throttled', message: expect.any(String) as unknown } });
    expect(iot.commandCalls(CreateCertificateFromCsrCommand).length).toBeGreaterThan(1);
    expect(iot.commandCalls(DeleteCertificateCommand)).toHaveLength(0);
    expect((await table.store.get(device.serial))?.status).toBe('PENDING');

    iot.on(CreateCertificateFromCsrCommand).callsFake(signLikeIot);
    expect(await requestCertificate(device, csr)).toMatchObject({ data: { certificateId: signed[0]?.certificateId } });
  });
});

describe('renewCertificate and confirmCertificate', () => {
  it('rotate through AWS IoT with exactly the expected commands: issue the new one inactive, activate it last; revoke the old one on confirmation', async () => {
    const device = await registerDevice();
    const current = await makeCsr({ commonName: device.serial });
    const enrolled = await requestCertificate(device, current);
    if (!('data' in enrolled)) throw new Error(JSON.stringify(enrolled));
    const old = enrolled.data as CertificateGrant;
    const next = await makeCsr({ commonName: device.serial, keyType: 'ec-p384' });
    iot.resetHistory();
    signed = [];

    const renewal = {
      serialNumber: device.serial,
      certificateId: old.certificateId,
      csr: next.csrPem,
      signature: await proofBy(current.keys.privateKey, pemBody(next.csrPem)),
    };
    const renewed = await invoke('Mutation.renewCertificate', { input: renewal }, null);

    const [certificate] = signed;
    if (certificate === undefined) throw new Error('AWS IoT was not asked for a certificate');
    const arn = certificateArn(ACCOUNT, certificate.certificateId);
    expect(renewed).toEqual({
      data: expect.objectContaining({
        certificateId: certificate.certificateId,
        certificateArn: arn,
        certificatePem: certificate.certificatePem,
        caCertificatePem: amazonRootCa1(),
        iotEndpoint: IOT_ENDPOINT,
        confirmBy: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      }) as unknown,
    });
    expect(byName(sentToIot())).toEqual(
      byName([
        { name: 'CreateCertificateFromCsr', input: { certificateSigningRequest: next.csrPem, setAsActive: false } },
        { name: 'AttachPolicy', input: { policyName: POLICY_NAME, target: arn } },
        {
          name: 'AttachThingPrincipal',
          input: { thingName: device.thingName, principal: arn, thingPrincipalType: 'EXCLUSIVE_THING' },
        },
        { name: 'UpdateCertificate', input: { certificateId: certificate.certificateId, newStatus: 'ACTIVE' } },
      ]),
    );
    expect(sentToIot().at(-1)?.name).toBe('UpdateCertificate');
    iot.resetHistory();

    const confirmation = {
      serialNumber: device.serial,
      certificateId: certificate.certificateId,
      signature: await proofBy(next.keys.privateKey, certificateDer(certificate.certificatePem)),
    };
    const confirmed = await invoke('Mutation.confirmCertificate', { input: confirmation }, null);

    expect(confirmed).toEqual({
      data: expect.objectContaining({
        certificateId: certificate.certificateId,
        pendingCertificateId: null,
      }) as unknown,
    });
    expect(byName(sentToIot())).toEqual(byName(revocationCommands(device.thingName, old)));
    expect(sentToIot()[0]?.name).toBe('UpdateCertificate');
  });

  it('answers an unproved renewal InvalidProof and asks AWS IoT nothing', async () => {
    const { serial, grant } = await enrolledDevice();
    const next = await makeCsr({ commonName: serial });
    iot.resetHistory();

    const envelope = await invoke(
      'Mutation.renewCertificate',
      {
        input: {
          serialNumber: serial,
          certificateId: grant.certificateId,
          csr: next.csrPem,
          signature: await proofBy(next.keys.privateKey, pemBody(next.csrPem)),
        },
      },
      null,
    );

    expect(envelope).toEqual({ error: { errorType: 'InvalidProof', message: expect.any(String) as unknown } });
    expect(sentToIot()).toEqual([]);
  });
});

describe('revokeCertificate', () => {
  it('revokes the certificate in AWS IoT, detaches it and marks the device REVOKED', async () => {
    const { serial, thingName, grant } = await enrolledDevice();
    iot.resetHistory();

    const revoked = await dataOf<DeviceView>('Mutation.revokeCertificate', { serialNumber: serial, reason: 'stolen' });

    expect(revoked).toMatchObject({ serialNumber: serial, status: 'REVOKED', revocationReason: 'stolen' });
    expect(byName(sentToIot())).toEqual(byName(revocationCommands(thingName, grant)));
    expect(sentToIot()[0]?.name).toBe('UpdateCertificate');
    expect(await table.store.get(serial)).toMatchObject({ status: 'REVOKED', certificateId: grant.certificateId });
  });

  it.each([
    ['AWS IoT accepts the repeated status change', () => undefined],
    [
      'AWS IoT refuses to change a revoked certificate',
      () => {
        iot.on(UpdateCertificateCommand).rejects(new CertificateStateException({ message: 'REVOKED', $metadata: {} }));
        iot.on(DescribeCertificateCommand).resolves({ certificateDescription: { status: 'REVOKED' } });
      },
    ],
  ])('answers the same to a second revoke when %s', async (_how, arrange) => {
    const { serial, thingName, grant } = await enrolledDevice();
    const first = await dataOf<DeviceView>('Mutation.revokeCertificate', { serialNumber: serial });
    iot.resetHistory();
    arrange();

    const second = await invoke('Mutation.revokeCertificate', { serialNumber: serial });

    expect(second).toEqual({ data: first });
    expect(byName(sentToIot().filter((command) => command.name !== 'DescribeCertificate'))).toEqual(
      byName(revocationCommands(thingName, grant)),
    );
    expect((await table.store.get(serial))?.status).toBe('REVOKED');
  });
});

describe('reconcile', () => {
  it('runs from the schedule the construct sets up: pages AWS IoT certificates newest first and reports', async () => {
    iot.on(ListCertificatesCommand).resolves({ certificates: [] });
    iot.resetHistory();
    const scheduled = JSON.parse(
      JSON.stringify({
        parentTypeName: 'Mutation',
        fieldName: 'reconcile',
        arguments: { input: { dryRun: false } },
        identity: { userArn: 'arn:aws:iam::123456789012:role/cvm-ReconcilerScheduleRole' },
      }),
    ) as ResolverEvent;

    expect(await handle(scheduled)).toEqual({ data: { scanned: 0, orphans: [], repaired: 0, rotationsSettled: 0 } });
    expect(sentToIot()).toEqual([
      { name: 'ListCertificates', input: expect.objectContaining({ ascendingOrder: false }) as unknown },
    ]);
  });
});

describe('resetDevice', () => {
  it('revokes the certificate, hands out a new token and lets the device enroll again with it', async () => {
    const { serial, thingName, token, grant } = await enrolledDevice();
    iot.resetHistory();

    const reset = await dataOf<DeviceRegistration>('Mutation.resetDevice', { serialNumber: serial });

    expect(byName(sentToIot())).toEqual(byName(revocationCommands(thingName, grant)));
    expect(reset.registrationToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(reset.registrationToken).not.toBe(token);
    expect(reset.device).toMatchObject({ serialNumber: serial, status: 'PENDING', certificateId: null });
    expect(await table.store.get(serial)).toMatchObject({ status: 'PENDING', failedAttempts: 0, locked: false });

    const csr = await makeCsr({ commonName: serial });
    expect(await requestCertificate({ serial, token }, csr)).toMatchObject({
      error: { errorType: 'InvalidRegistrationToken' },
    });
    expect(await requestCertificate({ serial, token: reset.registrationToken }, csr)).toMatchObject({
      data: { serialNumber: serial, certificatePem: signed.at(-1)?.certificatePem },
    });
  });
});

describe('devices', () => {
  const PAGING_SERIALS = ['PG-0001', 'PG-0002', 'PG-0003', 'PG-0004'];
  let pagingEnv: Record<string, string | undefined>;

  /** The first page of PENDING devices, two at a time, and its nextToken. */
  async function firstPendingPage(): Promise<{ serials: string[]; nextToken: string }> {
    const page = await dataOf<Connection<DeviceView>>('Query.devices', { status: 'PENDING', limit: 2 });
    if (page.nextToken === null) throw new Error('the first page has no nextToken');
    return { serials: page.items.map((device) => device.serialNumber), nextToken: page.nextToken };
  }

  beforeAll(async () => {
    // A table of its own, so that the pages hold exactly the devices registered here.
    const tableName = `${table.tableName}-paging`;
    await ensureTable(table.client, tableName);
    pagingEnv = lambdaEnv({ CVM_TABLE_NAME: tableName });
    handle = createLambdaHandler(pagingEnv);
    iot.reset();
    acceptEveryIotCall();
    captureOutput();
    try {
      const registrations = await dataOf<DeviceRegistration[]>('Mutation.registerDevices', {
        input: PAGING_SERIALS.map((serialNumber) => ({ serialNumber })),
      });
      const last = registrations.at(-1);
      if (last === undefined) throw new Error('registerDevices answered with no devices');
      const serial = last.device.serialNumber;
      const enrolled = await requestCertificate(
        { serial, token: last.registrationToken },
        await makeCsr({ commonName: serial }),
      );
      if (!('data' in enrolled)) throw new Error(`enrollment answered ${JSON.stringify(enrolled)}`);
    } finally {
      vi.restoreAllMocks();
    }
  });

  beforeEach(() => {
    handle = createLambdaHandler(pagingEnv);
  });

  it('pages through one status with the nextToken of the previous page', async () => {
    const first = await firstPendingPage();
    const second = await dataOf<Connection<DeviceView>>('Query.devices', {
      status: 'PENDING',
      limit: 2,
      nextToken: first.nextToken,
    });
    const active = await dataOf<Connection<DeviceView>>('Query.devices', { status: 'ACTIVE' });

    expect(first.serials).toEqual(['PG-0001', 'PG-0002']);
    expect(second.items.map((device) => [device.serialNumber, device.status])).toEqual([['PG-0003', 'PENDING']]);
    expect(second.nextToken).toBeNull();
    expect(active).toEqual({ items: [expect.objectContaining({ serialNumber: 'PG-0004' })], nextToken: null });
  });

  it('accepts a nextToken made by another instance of the function', async () => {
    const { nextToken } = await firstPendingPage();
    handle = createLambdaHandler(pagingEnv);

    const second = await dataOf<Connection<DeviceView>>('Query.devices', { status: 'PENDING', limit: 2, nextToken });

    expect(second.items.map((device) => device.serialNumber)).toEqual(['PG-0003']);
  });

  const swapCharacter = (text: string, index: number): string =>
    `${text.slice(0, index)}${text[index] === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;

  it.each<[string, (token: string) => string, string]>([
    ['a character of its body changed', (token) => swapCharacter(token, 0), 'PENDING'],
    ['a character of its signature changed', (token) => swapCharacter(token, token.indexOf('.') + 1), 'PENDING'],
    ['no token of ours at all', () => 'bm90LWEtdG9rZW4.c2lnbmF0dXJl', 'PENDING'],
    ['a token of the PENDING list sent with the ACTIVE one', (token) => token, 'ACTIVE'],
  ])('refuses a nextToken with %s as InvalidInput', async (_tampering, tamper, status) => {
    const { nextToken } = await firstPendingPage();

    const envelope = await invoke('Query.devices', { status, limit: 2, nextToken: tamper(nextToken) });

    expect(envelope).toEqual({ error: { errorType: 'InvalidInput', message: expect.any(String) as unknown } });
  });
});

describe('handler', () => {
  it('builds itself from process.env on the first invocation and logs with the Lambda context', async () => {
    vi.stubEnv('CVM_TABLE_NAME', table.tableName);
    vi.stubEnv('CVM_DEVICE_POLICY_NAME', POLICY_NAME);
    const context: Context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: 'cvm-resolver',
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${ACCOUNT.region}:${ACCOUNT.accountId}:function:cvm-resolver`,
      memoryLimitInMB: '512',
      awsRequestId: `req-${randomBytes(8).toString('hex')}`,
      logGroupName: '/aws/lambda/cvm-resolver',
      logStreamName: '2026/11/29/[$LATEST]0123456789abcdef',
      getRemainingTimeInMillis: () => 30_000,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };

    const envelope = await handler(appsyncEvent('Query.devices', { limit: 1 }, ADMIN_IDENTITY), context);

    expect(envelope).toHaveProperty('data.items');
    const served = output
      .join('')
      .split('\n')
      .filter((line) => line.includes('Request served'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(served).toEqual([
      expect.objectContaining({ field: 'Query.devices', function_request_id: context.awsRequestId }),
    ]);
  });
});
