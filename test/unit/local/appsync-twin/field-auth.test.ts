import { assertObjectType } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { allowedAuthModes, notAuthorizedMessage } from '../../../../local/appsync-twin/field-auth.ts';
import type { AuthMode } from '../../../../local/appsync-twin/field-auth.ts';
import { loadTwinSchema } from '../../../../local/appsync-twin/schema.ts';
import { readSchemaSdl } from '../../../../contract/schema-file.ts';

const cvmSchema = loadTwinSchema(readSchemaSdl());

const rulesSchema = loadTwinSchema(`
  type Query {
    plain: Plain
    keyOnly: Plain @aws_api_key
    both: Plain @aws_api_key @aws_iam
    typed: Typed
    subscribed: Plain @aws_subscribe(mutations: ["x"])
  }
  type Plain { value: String }
  type Typed @aws_api_key {
    inherited: String
    overridden: String @aws_iam
  }
  type Extended { value: String }
  extend type Extended @aws_api_key
`);

function modes(schema: GraphQLSchema, typeName: string, fieldName: string): AuthMode[] {
  const type = assertObjectType(schema.getType(typeName));
  const field = type.getFields()[fieldName]!;
  return [...allowedAuthModes(type, field, 'AWS_IAM')].sort();
}

describe('allowedAuthModes', () => {
  const cvmCases: [string, string, AuthMode[]][] = [
    ['Mutation', 'requestCertificate', ['API_KEY']],
    ['CertificateGrant', 'certificatePem', ['API_KEY']],
    ['CertificateGrant', 'issuedAt', ['API_KEY']],
    ['Mutation', 'registerDevice', ['AWS_IAM']],
    ['Mutation', 'revokeCertificate', ['AWS_IAM']],
    ['Query', 'device', ['AWS_IAM']],
    ['Query', 'devices', ['AWS_IAM']],
    ['Mutation', 'renewCertificate', ['API_KEY']],
    ['Mutation', 'confirmCertificate', ['API_KEY']],
    ['Mutation', 'pinPublicKey', ['AWS_IAM']],
    // confirmCertificate answers a Device to the device.
    ['Device', 'status', ['API_KEY', 'AWS_IAM']],
    ['DeviceRegistration', 'registrationToken', ['AWS_IAM']],
    ['DeviceEvent', 'actor', ['AWS_IAM']],
  ];

  it.each(cvmCases)('gives %s.%s of schema.graphql the modes %j', (typeName, fieldName, expected) => {
    expect(modes(cvmSchema, typeName, fieldName)).toEqual(expected);
  });

  const ruleCases: [string, string, string, AuthMode[]][] = [
    ['uses the default mode when neither field nor type has a directive', 'Query', 'plain', ['AWS_IAM']],
    ['uses only the field directive when the field has one', 'Query', 'keyOnly', ['API_KEY']],
    ['allows every mode the field names', 'Query', 'both', ['API_KEY', 'AWS_IAM']],
    ['inherits the type directive when the field has none', 'Typed', 'inherited', ['API_KEY']],
    ['lets a field directive replace the type directive', 'Typed', 'overridden', ['AWS_IAM']],
    ['reads directives from type extensions', 'Extended', 'value', ['API_KEY']],
    ['ignores directives that are not about authorization', 'Query', 'subscribed', ['AWS_IAM']],
  ];

  it.each(ruleCases)('%s', (_rule, typeName, fieldName, expected) => {
    expect(modes(rulesSchema, typeName, fieldName)).toEqual(expected);
  });
});

describe('notAuthorizedMessage', () => {
  it('words the error as AppSync does', () => {
    expect(notAuthorizedMessage('device', 'Query')).toBe('Not Authorized to access device on type Query');
  });
});
