import { readFile } from 'node:fs/promises';
import { buildSchema, isObjectType, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createAdminApi } from '../../../client/admin-api.ts';
import { confirmCertificate, renewCertificate, requestCertificate } from '../../../client/device-api.ts';
import type { GraphqlClient, GraphqlVariables } from '../../../client/graphql-client.ts';

// Just enough of AppSync's built-ins for graphql-js to read schema.graphql.
const APPSYNC_BUILT_INS = `
  scalar AWSDateTime
  scalar AWSJSON
  directive @aws_api_key on OBJECT | FIELD_DEFINITION
  directive @aws_iam on OBJECT | FIELD_DEFINITION
`;

/** Records each operation the client library sends and answers with an error, which every call here expects. */
function capturingClient(): { client: GraphqlClient; operations: { query: string; variables?: GraphqlVariables }[] } {
  const operations: { query: string; variables?: GraphqlVariables }[] = [];
  const client: GraphqlClient = {
    request<T>(query: string, variables?: GraphqlVariables): Promise<T> {
      operations.push(variables === undefined ? { query } : { query, variables });
      return Promise.reject(new Error('captured'));
    },
  };
  return { client, operations };
}

describe('the client library operations', () => {
  it('are valid against schema.graphql', async () => {
    const schema = buildSchema(APPSYNC_BUILT_INS + (await readFile('schema.graphql', 'utf8')));
    const { client, operations } = capturingClient();
    const api = createAdminApi(client);
    const calls: (() => Promise<unknown>)[] = [
      () => requestCertificate(client, { serialNumber: 'SN', registrationToken: 't', csr: 'c' }),
      () => api.registerDevice({ serialNumber: 'SN' }),
      () => api.registerDevices([{ serialNumber: 'SN' }]),
      () => api.getDevice('SN'),
      () => api.listDevices({ status: 'ACTIVE' }),
      () => api.deviceEvents('SN'),
      () => api.revokeCertificate('SN', 'reason'),
      () => api.resetDevice('SN', { tokenTtlSeconds: 60 }),
      () => api.listDevices({ rotationPending: true, limit: 10 }),
      () => api.pinPublicKey('SN', null),
      () => renewCertificate(client, { serialNumber: 'SN', certificateId: 'c', csr: 'c', signature: 's' }),
      () => confirmCertificate(client, { serialNumber: 'SN', certificateId: 'c', signature: 's' }),
    ];
    for (const call of calls) await call().catch(() => undefined);

    expect(operations).toHaveLength(calls.length);
    for (const { query } of operations) {
      expect(validate(schema, parse(query)).map((error) => error.message)).toEqual([]);
    }
  });

  it.each([
    {
      operation: 'requestCertificate',
      type: 'CertificateGrant',
      call: (client: GraphqlClient) =>
        requestCertificate(client, { serialNumber: 'SN', registrationToken: 't', csr: 'c' }),
    },
    {
      operation: 'renewCertificate',
      type: 'CertificateGrant',
      call: (client: GraphqlClient) =>
        renewCertificate(client, { serialNumber: 'SN', certificateId: 'c', csr: 'c', signature: 's' }),
    },
    {
      operation: 'confirmCertificate',
      type: 'Device',
      call: (client: GraphqlClient) =>
        confirmCertificate(client, { serialNumber: 'SN', certificateId: 'c', signature: 's' }),
    },
    {
      operation: 'pinPublicKey',
      type: 'Device',
      call: (client: GraphqlClient) => createAdminApi(client).pinPublicKey('SN', null),
    },
    {
      operation: 'devices',
      type: 'Device',
      call: (client: GraphqlClient) => createAdminApi(client).listDevices({ rotationPending: true }),
    },
  ])('$operation selects every field of $type', async ({ type, call }) => {
    const schema = buildSchema(APPSYNC_BUILT_INS + (await readFile('schema.graphql', 'utf8')));
    const { client, operations } = capturingClient();
    await call(client).catch(() => undefined);

    const objectType = schema.getType(type);
    if (!isObjectType(objectType)) throw new Error(`schema.graphql has no ${type} type`);
    const fields = Object.keys(objectType.getFields());
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields) expect(operations[0]?.query).toMatch(new RegExp(`\\b${field}\\b`));
  });
});
