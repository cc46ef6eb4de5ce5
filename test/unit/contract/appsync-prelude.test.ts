import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GraphQLError, GraphQLScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { APPSYNC_PRELUDE, loadAppSyncSchema } from '../../../contract/appsync-prelude.ts';
import { fieldsNeedingResolvers } from '../../../contract/root-fields.ts';
import { REPO_ROOT } from '../../infra/cdk-support.ts';

const SCHEMA_SDL = readFileSync(path.join(REPO_ROOT, 'schema.graphql'), 'utf8');

describe('loadAppSyncSchema', () => {
  it('reads schema.graphql as deployed, with AppSync scalars and directives declared by the prelude', () => {
    const schema = loadAppSyncSchema(SCHEMA_SDL);

    expect(schema.getType('AWSDateTime')).toBeInstanceOf(GraphQLScalarType);
    expect(schema.getDirective('aws_api_key')).toBeDefined();
    expect(schema.getMutationType()?.getFields()['requestCertificate']?.astNode?.directives?.[0]?.name.value).toBe(
      'aws_api_key',
    );
  });

  it.each([
    'AWSDateTime',
    'AWSJSON',
    'AWSDate',
    'AWSTime',
    'AWSTimestamp',
    'AWSEmail',
    'AWSURL',
    'AWSPhone',
    'AWSIPAddress',
  ])('declares the AppSync scalar %s', (scalar) => {
    expect(loadAppSyncSchema(`type Query { value: ${scalar} }`).getType(scalar)).toBeInstanceOf(GraphQLScalarType);
  });

  it.each(['@aws_api_key', '@aws_iam', '@aws_oidc', '@aws_lambda', '@aws_cognito_user_pools'])(
    'accepts the auth directive %s on types and fields',
    (directive) => {
      expect(() => loadAppSyncSchema(`type Query ${directive} { value: String ${directive} }`)).not.toThrow();
    },
  );

  it('accepts @aws_subscribe on a subscription field', () => {
    const sdl = `type Query { a: Int } type Mutation { b: Int } type Subscription { c: Int @aws_subscribe(mutations: ["b"]) }`;
    expect(() => loadAppSyncSchema(sdl)).not.toThrow();
  });

  it('names the line of the schema, not of the prelude, in a syntax error', () => {
    let error: unknown;
    try {
      loadAppSyncSchema('type Query {\n  broken(: String\n}', 'broken.graphql');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).source?.name).toBe('broken.graphql');
    expect((error as GraphQLError).locations?.[0]?.line).toBe(2);
  });

  it('keeps the prelude free of anything but declarations', () => {
    expect(APPSYNC_PRELUDE).not.toMatch(/\btype\s|\binput\s|\bschema\s/);
  });
});

describe('fieldsNeedingResolvers', () => {
  it('lists every Query and Mutation field of schema.graphql', () => {
    expect(fieldsNeedingResolvers(loadAppSyncSchema(SCHEMA_SDL))).toEqual([
      { typeName: 'Query', fieldName: 'device' },
      { typeName: 'Query', fieldName: 'devices' },
      { typeName: 'Query', fieldName: 'deviceEvents' },
      { typeName: 'Mutation', fieldName: 'requestCertificate' },
      { typeName: 'Mutation', fieldName: 'renewCertificate' },
      { typeName: 'Mutation', fieldName: 'confirmCertificate' },
      { typeName: 'Mutation', fieldName: 'registerDevice' },
      { typeName: 'Mutation', fieldName: 'registerDevices' },
      { typeName: 'Mutation', fieldName: 'revokeCertificate' },
      { typeName: 'Mutation', fieldName: 'resetDevice' },
      { typeName: 'Mutation', fieldName: 'reconcile' },
      { typeName: 'Mutation', fieldName: 'pinPublicKey' },
    ]);
  });

  it('uses the root type names the schema declares', () => {
    const schema = loadAppSyncSchema(
      'schema { query: Reads mutation: Writes } type Reads { a: Int } type Writes { b: Int }',
    );
    expect(fieldsNeedingResolvers(schema)).toEqual([
      { typeName: 'Reads', fieldName: 'a' },
      { typeName: 'Writes', fieldName: 'b' },
    ]);
  });

  it('lists only the query fields of a schema without mutations', () => {
    expect(fieldsNeedingResolvers(loadAppSyncSchema('type Query { a: Int }'))).toEqual([
      { typeName: 'Query', fieldName: 'a' },
    ]);
  });
});
