import { describe, expect, it } from 'vitest';
import type { ResolverEnvelope, ResolverEvent } from '../../../../contract/lambda-envelope.ts';
import {
  UNHANDLED_LAMBDA_ERROR_TYPE,
  UNHANDLED_LAMBDA_MESSAGE,
  createAppSyncExecutor,
} from '../../../../local/appsync-twin/executor.ts';
import type { Caller } from '../../../../local/appsync-twin/executor.ts';
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

/** An executor over schema.graphql whose invoke records its events and answers from `answer`. */
function executorAnswering(answer: (event: ResolverEvent) => Promise<ResolverEnvelope>, sdl = schemaSdl) {
  const events: ResolverEvent[] = [];
  const failures: string[] = [];
  const executor = createAppSyncExecutor({
    schemaSdl: sdl,
    invoke: (event) => {
      events.push(event);
      return answer(event);
    },
    onResolverFailure: (field) => failures.push(field),
  });
  return { executor, events, failures };
}

describe('createAppSyncExecutor', () => {
  it('passes the coerced arguments and the caller identity to invoke and returns its data', async () => {
    const { executor, events } = executorAnswering(async () => ({ data: DEVICE }));

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
      body: { data: { device: { serialNumber: 'SN-1', status: 'ACTIVE', attributes: '{"floor":"3"}' } } },
      rootFields: ['Query.device'],
    });
  });

  it('gives invoke an AWSJSON argument as the JSON value its string encodes', async () => {
    const { executor, events } = executorAnswering(async () => ({
      data: { registrationToken: 't', tokenExpiresAt: '2025-03-11T05:06:07.000Z', device: DEVICE },
    }));

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
    const { executor, events } = executorAnswering(async () => ({ data: DEVICE }));

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
    const { executor, events } = executorAnswering(async () => ({ data: GRANT }));
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
    const { executor } = executorAnswering(async () => ({ data: { open: 'o', secret: 's' } }), sdl);

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
    const { executor } = executorAnswering(async () => ({
      error: { errorType: 'InvalidRegistrationToken', message: 'The registration token is not valid for this device.' },
    }));

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

  const brokenAnswers: [string, () => Promise<ResolverEnvelope>][] = [
    ['throws', () => Promise.reject(new Error('secret internals: table cvm-prod'))],
    [
      'answers something that is not an envelope',
      () => Promise.resolve({ unexpected: true } as unknown as ResolverEnvelope),
    ],
  ];

  it.each(brokenAnswers)('answers InternalError without internals when invoke %s', async (_case, answer) => {
    const { executor, failures } = executorAnswering(answer);

    const outcome = await executor.run({ query: '{ device(serialNumber: "SN-1") { status } }' }, ADMIN);

    expect(outcome.body).toMatchObject({
      data: { device: null },
      errors: [{ path: ['device'], errorType: UNHANDLED_LAMBDA_ERROR_TYPE, message: UNHANDLED_LAMBDA_MESSAGE }],
    });
    expect(JSON.stringify(outcome.body)).not.toContain('internals');
    expect(failures).toEqual(['Query.device']);
  });

  it('reports a value that breaks a scalar as an error at that field', async () => {
    const { executor } = executorAnswering(async () => ({ data: { ...DEVICE, updatedAt: 'yesterday' } }));

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
      const { executor, events } = executorAnswering(async () => ({ data: DEVICE }));

      const outcome = await executor.run({ query, variables: variables ?? null }, ADMIN);

      expect(events).toEqual([]);
      expect(outcome.body).toMatchObject({ data: null, errors: [{ path: null, locations: [{ sourceName: null }] }] });
      expect(outcome.body.errors?.[0]).not.toHaveProperty('errorType');
      expect(outcome.body.errors?.[0]?.message).toMatch(message);
    },
  );
});
