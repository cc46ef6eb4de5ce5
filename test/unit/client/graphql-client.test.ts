import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GraphqlError, HttpError, NetworkError } from '../../../client/errors.ts';
import { createGraphqlClient, type GraphqlAuth } from '../../../client/graphql-client.ts';
import {
  graphqlBody,
  startTestGraphqlServer,
  type RecordedRequest,
  type ScriptedAnswer,
  type TestGraphqlServer,
} from './support/https-graphql-server.ts';

const API_KEY = 'da2-test-api-key-never-printed';
const SECRET_VARIABLE = 'registration-token-never-printed';
const QUERY = 'query Device($serialNumber: String!) { device(serialNumber: $serialNumber) { serialNumber } }';
const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

let server: TestGraphqlServer;

beforeAll(async () => {
  server = await startTestGraphqlServer();
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  server.requests.length = 0;
});

function clientWith(auth: GraphqlAuth = { kind: 'apiKey', apiKey: API_KEY }, timeoutMs?: number) {
  return createGraphqlClient({
    url: server.url,
    ca: server.caPem,
    auth,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

/** Re-sign the recorded request as a verifier would (AppSync does this server-side). */
async function expectedAuthorization(
  request: RecordedRequest,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): Promise<string> {
  const amzDate = String(request.headers['x-amz-date']);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T` +
      `${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const url = new URL(server.url);
  const signer = new SignatureV4({
    service: 'appsync',
    region: REGION,
    credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: request.method,
      protocol: 'https:',
      hostname: url.hostname,
      port: Number(url.port),
      path: request.path,
      headers: { host: String(request.headers.host), 'content-type': String(request.headers['content-type']) },
      body: request.body,
    }),
    { signingDate },
  );
  return String(signed.headers.authorization);
}

describe('createGraphqlClient', () => {
  it('posts the query and variables as JSON and returns data', async () => {
    server.respondWith(() => ({ json: { data: { device: { serialNumber: 'SN-1' } } } }));

    const data = await clientWith().request<{ device: { serialNumber: string } }>(QUERY, { serialNumber: 'SN-1' });

    expect(data).toEqual({ device: { serialNumber: 'SN-1' } });
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/graphql');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(graphqlBody(request!)).toEqual({ query: QUERY, variables: { serialNumber: 'SN-1' } });
  });

  it('sends the API key in x-api-key and no Authorization header', async () => {
    server.respondWith(() => ({ json: { data: { device: null } } }));

    await clientWith().request(QUERY, { serialNumber: 'SN-1' });

    expect(server.requests[0]?.headers['x-api-key']).toBe(API_KEY);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('signs IAM requests with SigV4 for appsync over host, content-type and x-amz-date', async () => {
    server.respondWith(() => ({ json: { data: { device: null } } }));

    await clientWith({ kind: 'iam', region: REGION, credentials: CREDENTIALS }).request(QUERY, {
      serialNumber: 'SN-1',
    });

    const request = server.requests[0]!;
    const authorization = String(request.headers.authorization);
    expect(authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\\d{8}/${REGION}/appsync/aws4_request, `),
    );
    expect(authorization).toContain('SignedHeaders=content-type;host;x-amz-date,');
    expect(request.headers['x-api-key']).toBeUndefined();
    expect(authorization).toBe(await expectedAuthorization(request, CREDENTIALS));
    expect(authorization).not.toBe(await expectedAuthorization({ ...request, body: `${request.body} ` }, CREDENTIALS));
  });

  it('signs x-amz-security-token too when a credential provider returns temporary credentials', async () => {
    server.respondWith(() => ({ json: { data: { device: null } } }));
    const temporary = { ...CREDENTIALS, sessionToken: 'session-token' };

    await clientWith({ kind: 'iam', region: REGION, credentials: () => Promise.resolve(temporary) }).request(QUERY, {
      serialNumber: 'SN-1',
    });

    const request = server.requests[0]!;
    expect(request.headers['x-amz-security-token']).toBe('session-token');
    expect(String(request.headers.authorization)).toContain(
      'SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,',
    );
    expect(request.headers.authorization).toBe(await expectedAuthorization(request, temporary));
  });

  it('refuses a URL that is not https', () => {
    expect(() =>
      createGraphqlClient({ url: 'http://127.0.0.1:1/graphql', auth: { kind: 'apiKey', apiKey: API_KEY } }),
    ).toThrow(TypeError);
  });

  describe('answers that are errors', () => {
    const cases: {
      name: string;
      answer: ScriptedAnswer;
      errorClass: typeof GraphqlError | typeof HttpError;
      errorType: string;
      retryable: boolean;
      statusCode?: number;
    }[] = [
      {
        name: 'a GraphQL error with null data',
        answer: {
          json: {
            data: { device: null },
            errors: [{ errorType: 'InvalidCsr', message: 'The CSR is not valid.', path: ['device'] }],
          },
        },
        errorClass: GraphqlError,
        errorType: 'InvalidCsr',
        retryable: false,
      },
      {
        name: 'IssuanceInProgress',
        answer: { json: { data: null, errors: [{ errorType: 'IssuanceInProgress', message: 'Busy.' }] } },
        errorClass: GraphqlError,
        errorType: 'IssuanceInProgress',
        retryable: true,
      },
      {
        name: 'Throttled',
        answer: { json: { data: null, errors: [{ errorType: 'Throttled', message: 'Slow down.' }] } },
        errorClass: GraphqlError,
        errorType: 'Throttled',
        retryable: true,
      },
      {
        name: 'an error next to data (the first error wins)',
        answer: {
          json: {
            data: { device: { serialNumber: 'SN-1' } },
            errors: [
              { errorType: 'DeviceNotFound', message: 'First.' },
              { errorType: 'InternalError', message: 'Second.' },
            ],
          },
        },
        errorClass: GraphqlError,
        errorType: 'DeviceNotFound',
        retryable: false,
      },
      {
        name: 'an error without errorType (a validation error)',
        answer: { json: { errors: [{ message: 'Cannot query field "nope".' }] } },
        errorClass: GraphqlError,
        errorType: 'GraphQLError',
        retryable: false,
      },
      {
        name: "AppSync's 401 with an errors body",
        answer: {
          status: 401,
          json: { errors: [{ errorType: 'UnauthorizedException', message: 'You are not authorized.' }] },
        },
        errorClass: GraphqlError,
        errorType: 'UnauthorizedException',
        retryable: false,
      },
      {
        name: 'a bare 401',
        answer: { status: 401, text: '' },
        errorClass: HttpError,
        errorType: 'UnauthorizedException',
        retryable: false,
        statusCode: 401,
      },
      {
        name: 'a 503 with a text body',
        answer: { status: 503, text: 'Service Unavailable' },
        errorClass: HttpError,
        errorType: 'ServiceUnavailable',
        retryable: true,
        statusCode: 503,
      },
      {
        name: 'a 200 whose body is not JSON',
        answer: { text: '<html>proxy</html>' },
        errorClass: HttpError,
        errorType: 'InvalidResponse',
        retryable: false,
        statusCode: 200,
      },
      {
        name: 'a 200 with neither data nor errors',
        answer: { json: {} },
        errorClass: HttpError,
        errorType: 'InvalidResponse',
        retryable: false,
        statusCode: 200,
      },
    ];

    it.each(cases)('throws $errorClass.name $errorType for $name', async (testCase) => {
      server.respondWith(() => testCase.answer);

      const error = await clientWith()
        .request(QUERY, { serialNumber: SECRET_VARIABLE })
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(testCase.errorClass);
      expect(error).toMatchObject({ errorType: testCase.errorType, retryable: testCase.retryable });
      if (testCase.statusCode !== undefined) expect(error).toMatchObject({ statusCode: testCase.statusCode });
      expect(String(error)).not.toContain(API_KEY);
      expect(String(error)).not.toContain(SECRET_VARIABLE);
    });

    it('keeps the path and every error of the answer on a GraphqlError', async () => {
      server.respondWith(() => ({
        json: {
          data: { device: null },
          errors: [
            { errorType: 'InvalidInput', message: 'Bad serial.', path: ['device'] },
            { errorType: 'InternalError', message: 'Also this.', path: ['device', 'thingName'] },
          ],
        },
      }));

      const error = (await clientWith()
        .request(QUERY, { serialNumber: 'SN-1' })
        .catch((caught: unknown) => caught)) as GraphqlError;

      expect(error.name).toBe('GraphqlError');
      expect(error.message).toBe('Bad serial.');
      expect(error.path).toEqual(['device']);
      expect(error.errors.map((entry) => entry.errorType)).toEqual(['InvalidInput', 'InternalError']);
    });
  });

  describe('failures without an answer', () => {
    it('throws NetworkError, with the cause, when the certificate is not trusted', async () => {
      const client = createGraphqlClient({ url: server.url, auth: { kind: 'apiKey', apiKey: API_KEY } });

      const error = await client.request(QUERY, { serialNumber: SECRET_VARIABLE }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(NetworkError);
      expect(error).toMatchObject({ errorType: 'NetworkError', retryable: true });
      expect((error as NetworkError).cause).toBeInstanceOf(Error);
      expect(String(error)).not.toContain(API_KEY);
      expect(server.requests).toHaveLength(0);
    });

    it('throws NetworkError when the server does not answer in time', async () => {
      server.respondWith(() => 'hang');

      const error = await clientWith({ kind: 'apiKey', apiKey: API_KEY }, 200)
        .request(QUERY, { serialNumber: SECRET_VARIABLE })
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(NetworkError);
      expect((error as Error).message).toContain('timed out');
      expect(String(error)).not.toContain(SECRET_VARIABLE);
    });

    it('throws NetworkError when nothing listens', async () => {
      const closed = await startTestGraphqlServer();
      await closed.close();
      const client = createGraphqlClient({
        url: closed.url,
        ca: closed.caPem,
        auth: { kind: 'apiKey', apiKey: API_KEY },
      });

      const error = await client.request(QUERY).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError).cause).toMatchObject({ code: 'ECONNREFUSED' });
    });
  });
});
