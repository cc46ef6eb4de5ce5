import { Agent, request as httpsRequest } from 'node:https';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ResolverEnvelope, ResolverEvent } from '../../../contract/lambda-envelope.ts';
import { startAppSyncTwin } from '../../../local/appsync-twin/server.ts';
import type { RunningAppSyncTwin } from '../../../local/appsync-twin/server.ts';
import { signAppSyncRequest } from '../../../client/sigv4.ts';
import { readSchemaSdl } from '../../../contract/schema-file.ts';
import { APPSYNC_REQUEST_LIMITS } from '../../../contract/request-limits.ts';
import { getIntrospectionQuery } from 'graphql';
import { issueTemporaryCredentials, verifySessionToken } from '../../../local/session-credentials.ts';
import { TOO_DEEP_TO_PARSE } from '../../../local/appsync-twin/parse-document.ts';

const REGION = 'us-east-1';
const API_KEY = 'da2-integrationtestdevicekey';
const ADMIN = {
  accessKeyId: 'AKIDLOCALADMIN000001',
  secretAccessKey: 'local-secret-key-for-tests-only',
  userArn: 'arn:aws:iam::000000000000:user/cvm-local-admin',
  accountId: '000000000000',
};
const GRANT = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  certificateId: 'ab'.repeat(32),
  certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${'ab'.repeat(32)}`,
  certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  caCertificatePem: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
  iotEndpoint: null,
  issuedAt: '2025-03-04T05:06:07.000Z',
};
const DEVICE = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  status: 'ACTIVE',
  locked: false,
  registeredAt: '2025-03-04T05:06:07.000Z',
  updatedAt: '2025-03-04T05:06:07.000Z',
};

const REQUEST_CERTIFICATE = `mutation Enroll($input: RequestCertificateInput!) {
  requestCertificate(input: $input) { serialNumber certificateId issuedAt }
}`;
const DEVICE_QUERY = 'query One($serial: String!) { device(serialNumber: $serial) { serialNumber status } }';

interface TwinResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON answer: whatever the twin sent, for the assertions to check. */
  body: unknown;
}

/** A throwaway certificate for 127.0.0.1 and localhost, self-signed, so the client can trust exactly it. */
async function throwawayTls(): Promise<{ keyPem: string; certPem: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=localhost',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 60 * 60_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), certPem: certificate.toString('pem') };
}

describe('AppSync twin over HTTPS', () => {
  let twin: RunningAppSyncTwin;
  let ca: string;
  const events: ResolverEvent[] = [];
  const logLines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];

  function invoke(event: ResolverEvent): Promise<ResolverEnvelope> {
    events.push(event);
    if (event.fieldName === 'device' && event.arguments['serialNumber'] === 'SN-CRASH') {
      return Promise.reject(new Error('the handler crashed'));
    }
    if (event.fieldName === 'device') return Promise.resolve({ data: DEVICE });
    const input = event.arguments['input'] as { registrationToken?: string } | undefined;
    if (input?.registrationToken === 'wrong-token') {
      return Promise.resolve({
        error: { errorType: 'InvalidRegistrationToken', message: 'The registration token is not valid.' },
      });
    }
    return Promise.resolve({ data: GRANT });
  }

  function send(options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }): Promise<TwinResponse> {
    const target = new URL(options.path ?? '', twin.url);
    const body = options.body ?? '';
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest(
        target,
        {
          method: options.method ?? 'POST',
          ca,
          headers: {
            'content-type': 'application/json',
            ...options.headers,
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: text === '' ? {} : JSON.parse(text),
            });
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  const withApiKey = (query: string, variables: Record<string, unknown>, apiKey = API_KEY) =>
    send({ headers: { 'x-api-key': apiKey }, body: JSON.stringify({ query, variables }) });

  async function signedPost(
    query: string,
    variables: Record<string, unknown>,
    secretAccessKey = ADMIN.secretAccessKey,
    options: {
      signingDate?: Date;
      credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    } = {},
  ) {
    const body = JSON.stringify({ query, variables });
    const headers = await signAppSyncRequest({
      url: twin.url,
      body,
      region: REGION,
      credentials: options.credentials ?? { ...ADMIN, secretAccessKey },
      ...(options.signingDate === undefined ? {} : { signingDate: options.signingDate }),
    });
    return send({ headers, body });
  }

  beforeAll(async () => {
    const tls = await throwawayTls();
    ca = tls.certPem;
    twin = await startAppSyncTwin({
      schemaSdl: readSchemaSdl(),
      tls,
      port: 0,
      region: REGION,
      apiKeys: [API_KEY],
      adminCredentials: [ADMIN],
      resolveSession: (accessKeyId, sessionToken, now) => {
        const session = verifySessionToken(ADMIN.secretAccessKey, accessKeyId, sessionToken, now);
        return session.valid
          ? { ...ADMIN, accessKeyId, secretAccessKey: session.secretAccessKey }
          : { refused: session.reason };
      },
      invoke,
      limits: APPSYNC_REQUEST_LIMITS,
      log: (level, message, fields) => logLines.push({ level, message, ...(fields === undefined ? {} : { fields }) }),
    });
  });

  afterAll(async () => {
    await twin.close();
  });

  beforeEach(() => {
    events.length = 0;
  });

  it('serves https://127.0.0.1:<port>/graphql', () => {
    expect(twin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/graphql$/);
  });

  it('hands an API-key requestCertificate to invoke with no identity and returns its data', async () => {
    const input = { serialNumber: 'SN-1', registrationToken: 'good-token', csr: '-----BEGIN CERTIFICATE REQUEST-----' };

    const response = await withApiKey(REQUEST_CERTIFICATE, { input });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: {
        requestCertificate: { serialNumber: 'SN-1', certificateId: GRANT.certificateId, issuedAt: GRANT.issuedAt },
      },
    });
    expect(events).toEqual([
      { parentTypeName: 'Mutation', fieldName: 'requestCertificate', arguments: { input }, identity: null },
    ]);
  });

  it('answers an API-key call to device with Unauthorized and null data, without invoking', async () => {
    const response = await withApiKey(DEVICE_QUERY, { serial: 'SN-1' });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: { device: null },
      errors: [
        {
          path: ['device'],
          data: null,
          errorType: 'Unauthorized',
          errorInfo: null,
          locations: [{ line: 1, column: 31, sourceName: null }],
          message: 'Not Authorized to access device on type Query',
        },
      ],
    });
    expect(events).toEqual([]);
  });

  it('hands a SigV4-signed device query to invoke with the admin identity', async () => {
    const response = await signedPost(DEVICE_QUERY, { serial: 'SN-1' });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { device: { serialNumber: 'SN-1', status: 'ACTIVE' } } });
    expect(events).toEqual([
      {
        parentTypeName: 'Query',
        fieldName: 'device',
        arguments: { serialNumber: 'SN-1' },
        identity: {
          userArn: ADMIN.userArn,
          accountId: ADMIN.accountId,
          username: ADMIN.accessKeyId,
          sourceIp: ['127.0.0.1'],
        },
      },
    ]);
  });

  it('answers a SigV4-signed requestCertificate with Unauthorized, without invoking', async () => {
    const input = { serialNumber: 'SN-1', registrationToken: 'good-token', csr: 'csr' };

    const response = await signedPost(REQUEST_CERTIFICATE, { input });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      data: null,
      errors: [
        {
          path: ['requestCertificate'],
          errorType: 'Unauthorized',
          message: 'Not Authorized to access requestCertificate on type Mutation',
        },
      ],
    });
    expect(events).toEqual([]);
  });

  const refusals: [string, () => Promise<TwinResponse>, number, string, RegExp][] = [
    [
      'no credentials',
      () => send({ body: JSON.stringify({ query: DEVICE_QUERY }) }),
      401,
      'UnauthorizedException',
      /Valid authorization header not provided/,
    ],
    [
      'a wrong API key',
      () => withApiKey(DEVICE_QUERY, {}, 'da2-wrong'),
      401,
      'UnauthorizedException',
      /You are not authorized to make this call/,
    ],
    [
      'a bad SigV4 signature',
      () => signedPost(DEVICE_QUERY, { serial: 'SN-1' }, 'not-the-secret'),
      403,
      'InvalidSignatureException',
      /signature we calculated does not match/,
    ],
    [
      'an unknown access key',
      () =>
        signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, {
          credentials: { accessKeyId: 'AKIDNOBODY0000000001', secretAccessKey: ADMIN.secretAccessKey },
        }),
      403,
      'UnrecognizedClientException',
      /^The security token included in the request is invalid\.$/,
    ],
    [
      'a request signed 10 minutes ago',
      () => signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, { signingDate: new Date(Date.now() - 600_000) }),
      400,
      'BadRequestException',
      /^Signature expired: /,
    ],
    [
      'a request signed 10 minutes ahead',
      () => signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, { signingDate: new Date(Date.now() + 600_000) }),
      400,
      'BadRequestException',
      /^Signature not yet current: /,
    ],
    [
      'expired temporary credentials',
      () => {
        const past = new Date(Date.now() - 2 * 3_600_000);
        return signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, {
          credentials: issueTemporaryCredentials(ADMIN.secretAccessKey, past, 900),
        });
      },
      403,
      'ExpiredTokenException',
      /expired/,
    ],
    [
      'a session token that does not match the access key',
      () =>
        signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, {
          credentials: {
            ...issueTemporaryCredentials(ADMIN.secretAccessKey, new Date()),
            sessionToken: issueTemporaryCredentials(ADMIN.secretAccessKey, new Date()).sessionToken,
          },
        }),
      403,
      'UnrecognizedClientException',
      /invalid/,
    ],
  ];

  it('accepts valid temporary credentials as the admin identity', async () => {
    const response = await signedPost(DEVICE_QUERY, { serial: 'SN-1' }, undefined, {
      credentials: issueTemporaryCredentials(ADMIN.secretAccessKey, new Date()),
    });

    expect(response.status).toBe(200);
    expect(events[0]?.identity).toMatchObject({ userArn: ADMIN.userArn });
  });

  it('answers a CORS preflight as AppSync does, and puts Access-Control-Allow-Origin on every answer', async () => {
    const preflight = await send({
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,x-amz-date,x-amz-security-token,content-type',
      },
    });
    const refused = await send({
      headers: { origin: 'https://app.example' },
      body: JSON.stringify({ query: DEVICE_QUERY }),
    });

    expect(preflight.status).toBe(200);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    expect(String(preflight.headers['access-control-allow-headers']).split(',')).toEqual(
      expect.arrayContaining([
        'x-api-key',
        'authorization',
        'x-amz-date',
        'x-amz-security-token',
        'x-amz-user-agent',
        'content-type',
      ]),
    );
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    expect(String(refused.headers['access-control-expose-headers'])).toContain('x-amzn-ErrorType');
  });

  it('gives every answer, served or refused, its own x-amzn-RequestId', async () => {
    const served = await signedPost(DEVICE_QUERY, { serial: 'SN-1' });
    const refused = await send({ body: JSON.stringify({ query: DEVICE_QUERY }) });
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

    expect(served.headers['x-amzn-requestid']).toMatch(uuid);
    expect(refused.headers['x-amzn-requestid']).toMatch(uuid);
    expect(served.headers['x-amzn-requestid']).not.toBe(refused.headers['x-amzn-requestid']);
  });

  it('answers the standard introspection query (graphql-codegen, IDEs) despite the depth limit', async () => {
    const response = await signedPost(getIntrospectionQuery(), {});

    expect(response.status).toBe(200);
    expect(response.body).not.toHaveProperty('errors');
    const types = (response.body as { data: { __schema: { types: { name: string }[] } } }).data.__schema.types;
    expect(types.map((type) => type.name)).toEqual(expect.arrayContaining(['Device', 'CertificateGrant', 'AWSJSON']));
  });

  it('answers a document nested deep enough to overflow the parser with 400 and a GraphQL error, not 500', async () => {
    const response = await signedPost(`${'{a'.repeat(4_000)}${'}'.repeat(4_000)}`, {});

    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      data: null,
      errors: [{ path: null, locations: null, message: TOO_DEEP_TO_PARSE }],
    });
    expect(events).toEqual([]);
  });

  it('answers a syntax error with 400 and a located GraphQL error', async () => {
    const response = await signedPost('{ device(', {});

    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      data: null,
      errors: [{ path: null, message: expect.stringMatching(/^Syntax Error/) as unknown }],
    });
  });

  it("carries AppSync's own type in errorInfo when the Lambda crashes, as the resolver code sends it", async () => {
    const response = await signedPost(DEVICE_QUERY, { serial: 'SN-CRASH' });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      data: { device: null },
      errors: [{ path: ['device'], errorType: 'InternalError', errorInfo: { cause: 'Lambda:Unhandled' } }],
    });
    expect(JSON.stringify(response.body)).not.toContain('crashed');
  });

  it.each(refusals)(
    'refuses %s at the HTTP layer, without invoking',
    async (_case, call, status, errorType, message) => {
      const response = await call();

      expect(response.status).toBe(status);
      expect(response.headers['x-amzn-errortype']).toBe(errorType);
      expect(response.body).toEqual({ errors: [{ errorType, message: expect.stringMatching(message) as unknown }] });
      expect(events).toEqual([]);
    },
  );

  it('passes an envelope error through as errorType and message at its path, with null data', async () => {
    const input = { serialNumber: 'SN-1', registrationToken: 'wrong-token', csr: 'csr' };

    const response = await withApiKey(REQUEST_CERTIFICATE, { input });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          path: ['requestCertificate'],
          data: null,
          errorType: 'InvalidRegistrationToken',
          errorInfo: null,
          locations: [{ line: 2, column: 3, sourceName: null }],
          message: 'The registration token is not valid.',
        },
      ],
    });
  });

  it('answers an invalid query with a 200 validation error and data null', async () => {
    const response = await signedPost('{ devicez }', {});

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          path: null,
          locations: [{ line: 1, column: 3, sourceName: null }],
          message: expect.stringMatching(/^Validation error: Cannot query field "devicez"/) as unknown,
        },
      ],
    });
    expect(events).toEqual([]);
  });

  it('refuses a body over 1 MB with 413', async () => {
    const body = JSON.stringify({ query: `{ __typename }${' '.repeat(1024 * 1024)}` });

    const response = await send({ headers: { 'x-api-key': API_KEY }, body });

    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({ errors: [{ errorType: 'PayloadTooLargeException' }] });
  });

  const malformed: [string, Parameters<typeof send>[0], number, string][] = [
    ['an empty body', { headers: { 'x-api-key': API_KEY } }, 400, 'Request body is empty.'],
    [
      'a body that is not JSON',
      { headers: { 'x-api-key': API_KEY }, body: 'meow' },
      400,
      'Unable to parse GraphQL query.',
    ],
    [
      'a JSON body without a query',
      { headers: { 'x-api-key': API_KEY }, body: '{}' },
      400,
      'Unable to parse GraphQL query.',
    ],
    [
      'another path',
      { path: '/graphql/extra', headers: { 'x-api-key': API_KEY }, body: '{}' },
      404,
      'No such resource.',
    ],
    [
      'a preflight for another path',
      { method: 'OPTIONS', path: '/other', headers: { origin: 'https://app.example' } },
      404,
      'No such resource.',
    ],
    [
      'another method',
      { method: 'PUT', headers: { 'x-api-key': API_KEY }, body: '{}' },
      405,
      'Only POST is supported.',
    ],
  ];

  it.each(malformed)('answers %s with a request error', async (_case, options, status, message) => {
    const response = await send(options);

    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ errors: [{ message }] });
  });

  it('logs one line per request with fields, mode and status, and never the key or the variables', async () => {
    logLines.length = 0;

    await withApiKey(REQUEST_CERTIFICATE, {
      input: { serialNumber: 'SN-1', registrationToken: 'secret-token-value', csr: 'csr' },
    });

    expect(logLines).toEqual([
      {
        level: 'info',
        message: 'graphql request',
        fields: {
          requestId: expect.any(String) as unknown,
          authMode: 'API_KEY',
          fields: ['Mutation.requestCertificate'],
          status: 200,
          durationMs: expect.any(Number) as unknown,
        },
      },
    ]);
    expect(JSON.stringify(logLines)).not.toMatch(/secret-token-value|da2-integration/);
  });
});

describe('AppSync twin close()', () => {
  it('ends idle keep-alive connections, resolves, and then refuses new connections', async () => {
    const tls = await throwawayTls();
    const twin = await startAppSyncTwin({
      schemaSdl: 'type Query { ping: String @aws_api_key }',
      tls,
      port: 0,
      region: REGION,
      apiKeys: [API_KEY],
      adminCredentials: [],
      invoke: () => Promise.resolve({ data: 'pong' }),
    });
    const agent = new Agent({ keepAlive: true, ca: tls.certPem });
    const post = () =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ query: '{ ping }' });
        const outgoing = httpsRequest(
          twin.url,
          { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY } },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        outgoing.on('error', reject);
        outgoing.end(body);
      });

    expect(await post()).toBe(200);
    await twin.close();

    await expect(post()).rejects.toThrow(/ECONNREFUSED|socket hang up|ECONNRESET/);
    agent.destroy();
  });
});
