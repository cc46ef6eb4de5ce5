import { describe, expect, it } from 'vitest';
import type { ResolverEnvelope, ResolverEvent } from '../../../../contract/lambda-envelope.ts';
import { RESOLVER_CODE_FILE } from '../../../../contract/resolver-code.ts';
import { createAppSyncExecutor } from '../../../../local/appsync-twin/executor.ts';
import type { Caller } from '../../../../local/appsync-twin/executor.ts';
import { createLambdaResolver } from '../../../../local/appsync-twin/appsync-js-runtime.ts';
import { readSchemaSdl } from '../../../../contract/schema-file.ts';

const schemaSdl = readSchemaSdl();

const DEVICE = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  status: 'ACTIVE',
  locked: false,
  attributes: { floor: '3' },
  registeredAt: '2025-03-04T05:06:07.000Z',
  updatedAt: '2025-03-04T05:06:07.000Z',
};
const GRANT = {
  serialNumber: 'SN-1',
  thingName: 'SN-1',
  certificateId: 'ab'.repeat(32),
  certificateArn: 'arn:aws:iot:us-east-1:000000000000:cert/abab',
  certificatePem: '-----BEGIN CERTIFICATE-----\n…',
  caCertificatePem: '-----BEGIN CERTIFICATE-----\n…',
  iotEndpoint: null,
  issuedAt: '2025-03-04T05:06:07.000Z',
};

const ADMIN: Caller = {
  mode: 'AWS_IAM',
  identity: {
    userArn: 'arn:aws:iam::000000000000:user/admin',
    accountId: '000000000000',
    username: 'AKID',
    sourceIp: ['127.0.0.1'],
  },
};
const DEVICE_CALLER: Caller = { mode: 'API_KEY', identity: null };

/**
 * An executor over schema.graphql that runs the deployed resolver code (resolvers/appsync/invoke.js) around a
 * Lambda handler that records its events and answers from `answer`.
 */
function executorAnswering(answer: (event: ResolverEvent) => Promise<ResolverEnvelope>, sdl = schemaSdl) {
  const events: ResolverEvent[] = [];
  const failures: unknown[] = [];
  const executor = createAppSyncExecutor({
    schemaSdl: sdl,
    resolveRootField: createLambdaResolver({
      codeFile: RESOLVER_CODE_FILE,
      handler: (payload) => {
        events.push(payload as ResolverEvent);
        return answer(payload as ResolverEvent);
      },
      onLambdaFailure: (error) => failures.push(error),
    }),
  });
  return { executor, events, failures };
}

describe('createAppSyncExecutor', () => {
  it('passes the coerced arguments and the caller identity to invoke and returns its data', async () => {
    const { executor, events } = executorAnswering(() => Promise.resolve({ data: DEVICE }));

    const outcome = await executor.run(
      {
        query: 'query One($serial: String!) { device(serialNumber: $serial) { serialNumber status attributes } }',
        variables: { serial: 'SN-1' },
      },
      ADMIN,
    );

    expect(events).toEqual([
      { parentTypeName: 'Query', fieldName: 'device', arguments: { serialNumber: 'SN-1' }, identity: ADMIN.identity },
    ]);
    expect(outcome).toEqual({
      status: 200,
      body: { data: { device: { serialNumber: 'SN-1', status: 'ACTIVE', attributes: '{"floor":"3"}' } } },
      rootFields: ['Query.device'],
    });
  });

  it('gives invoke an AWSJSON argument as the JSON value its string encodes', async () => {
    const { executor, events } = executorAnswering(() =>
      Promise.resolve({
        data: { registrationToken: 't', tokenExpiresAt: '2025-03-11T05:06:07.000Z', device: DEVICE },
      }),
    );

    await executor.run(
      {
        query: 'mutation R($input: RegisterDeviceInput!) { registerDevice(input: $input) { tokenExpiresAt } }',
        variables: { input: { serialNumber: 'SN-1', attributes: '{"floor":"3"}' } },
      },
      ADMIN,
    );

    expect(events[0]?.arguments).toEqual({ input: { serialNumber: 'SN-1', attributes: { floor: '3' } } });
  });

  it('answers Unauthorized with null data and never invokes when the caller mode may not use a root field', async () => {
    const { executor, events } = executorAnswering(() => Promise.resolve({ data: DEVICE }));

    const outcome = await executor.run({ query: '{ device(serialNumber: "SN-1") { status } }' }, DEVICE_CALLER);

    expect(events).toEqual([]);
    expect(outcome.body).toEqual({
      data: { device: null },
      errors: [
        {
          path: ['device'],
          data: null,
          errorType: 'Unauthorized',
          errorInfo: null,
          locations: [{ line: 1, column: 3, sourceName: null }],
          message: 'Not Authorized to access device on type Query',
        },
      ],
    });
  });

  it('lets an API-key caller request a certificate and an IAM caller not', async () => {
    const { executor, events } = executorAnswering(() => Promise.resolve({ data: GRANT }));
    const query =
      'mutation { requestCertificate(input: {serialNumber: "SN-1", registrationToken: "t", csr: "c"}) { certificateId issuedAt } }';

    const asDevice = await executor.run({ query }, DEVICE_CALLER);
    const asAdmin = await executor.run({ query }, ADMIN);

    expect(asDevice.body).toEqual({
      data: { requestCertificate: { certificateId: GRANT.certificateId, issuedAt: GRANT.issuedAt } },
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.identity).toBeNull();
    // The field is non-null, so the error nulls the whole data, as AppSync does.
    expect(asAdmin.body).toMatchObject({
      data: null,
      errors: [
        {
          path: ['requestCertificate'],
          errorType: 'Unauthorized',
          message: 'Not Authorized to access requestCertificate on type Mutation',
        },
      ],
    });
  });

  it('checks nested fields too, nulling only the field the caller may not read', async () => {
    const sdl = `
      type Query { item: Item @aws_api_key }
      type Item @aws_api_key { open: String secret: String @aws_iam }
    `;
    const { executor } = executorAnswering(() => Promise.resolve({ data: { open: 'o', secret: 's' } }), sdl);

    const outcome = await executor.run({ query: '{ item { open secret } }' }, DEVICE_CALLER);

    expect(outcome.body).toMatchObject({
      data: { item: { open: 'o', secret: null } },
      errors: [
        {
          path: ['item', 'secret'],
          errorType: 'Unauthorized',
          message: 'Not Authorized to access secret on type Item',
        },
      ],
    });
  });

  it('maps an envelope error to errorType and message, as util.error does', async () => {
    const { executor } = executorAnswering(() =>
      Promise.resolve({
        error: {
          errorType: 'InvalidRegistrationToken',
          message: 'The registration token is not valid for this device.',
        },
      }),
    );

    const outcome = await executor.run(
      {
        query:
          'mutation {\n  requestCertificate(input: {serialNumber: "SN-1", registrationToken: "t", csr: "c"}) { certificateId }\n}',
      },
      DEVICE_CALLER,
    );

    expect(outcome.body).toEqual({
      data: null,
      errors: [
        {
          path: ['requestCertificate'],
          data: null,
          errorType: 'InvalidRegistrationToken',
          errorInfo: null,
          locations: [{ line: 2, column: 3, sourceName: null }],
          message: 'The registration token is not valid for this device.',
        },
      ],
    });
  });

  it("answers a Lambda crash as the resolver code does: InternalError, AppSync's type in errorInfo, no internals", async () => {
    const { executor, failures } = executorAnswering(() =>
      Promise.reject(new Error('secret internals: table cvm-prod')),
    );

    const outcome = await executor.run({ query: '{ device(serialNumber: "SN-1") { status } }' }, ADMIN);

    expect(outcome.body).toEqual({
      data: { device: null },
      errors: [
        {
          path: ['device'],
          data: null,
          errorType: 'InternalError',
          errorInfo: { cause: 'Lambda:Unhandled' },
          locations: [{ line: 1, column: 3, sourceName: null }],
          message: 'cvm could not complete the request; it is safe to retry.',
        },
      ],
    });
    expect(JSON.stringify(outcome.body)).not.toContain('internals');
    expect(failures).toHaveLength(1);
  });

  it('reports a value that breaks a scalar as an error at that field', async () => {
    const { executor } = executorAnswering(() => Promise.resolve({ data: { ...DEVICE, updatedAt: 'yesterday' } }));

    const outcome = await executor.run({ query: '{ device(serialNumber: "SN-1") { serialNumber updatedAt } }' }, ADMIN);

    expect(outcome.body).toMatchObject({ data: { device: null }, errors: [{ path: ['device', 'updatedAt'] }] });
  });

  const rejectedOperations: [string, string, Record<string, unknown> | undefined, RegExp][] = [
    ['an unknown field', '{ nope }', undefined, /^Validation error: Cannot query field "nope" on type "Query"/],
    ['a syntax error', '{ device(', undefined, /^Syntax Error/],
    [
      'a missing variable',
      'query Q($s: String!) { device(serialNumber: $s) { status } }',
      undefined,
      /^Validation error: Variable "\$s"/,
    ],
    [
      'an AWSJSON literal that is not JSON',
      'mutation { registerDevice(input: {serialNumber: "S", attributes: "{x"}) { registrationToken } }',
      undefined,
      /^Validation error: .*AWSJSON/,
    ],
  ];

  it.each(rejectedOperations)(
    'answers %s with data null and a located error, without invoking',
    async (_case, query, variables, message) => {
      const { executor, events } = executorAnswering(() => Promise.resolve({ data: DEVICE }));

      const outcome = await executor.run({ query, variables: variables ?? null }, ADMIN);

      expect(events).toEqual([]);
      // A document that does not parse is a bad request; one that parses but does not validate is answered.
      expect(outcome.status).toBe(message.source.startsWith('^Syntax') ? 400 : 200);
      expect(outcome.body).toMatchObject({ data: null, errors: [{ path: null, locations: [{ sourceName: null }] }] });
      expect(outcome.body.errors?.[0]).not.toHaveProperty('errorType');
      expect(outcome.body.errors?.[0]?.message).toMatch(message);
    },
  );

  it('refuses introspection with a validation error when the API has it DISABLED, and serves it by default', async () => {
    const resolveRootField = createLambdaResolver({
      codeFile: RESOLVER_CODE_FILE,
      handler: () => Promise.resolve(null),
    });
    const disabled = createAppSyncExecutor({ schemaSdl, resolveRootField, introspection: 'DISABLED' });
    const byDefault = createAppSyncExecutor({ schemaSdl, resolveRootField });
    const query = { query: '{ __schema { queryType { name } } }' };

    const refused = await disabled.run(query, ADMIN);
    const served = await byDefault.run(query, ADMIN);

    expect(refused).toMatchObject({ status: 200, body: { data: null, errors: [{ path: null }] } });
    expect(refused.body.errors?.[0]?.message).toMatch(/^Validation error: Introspection is disabled/);
    expect(served.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });
});
