/**
 * contract/api-types.ts is written by hand from schema.graphql; this test reads both and fails on any drift:
 * a field added, removed, renamed, retyped or made (non-)nullable on one side only.
 */
import { readFileSync } from 'node:fs';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLType,
} from 'graphql';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { DEVICE_EVENT_TYPES, DEVICE_STATUSES } from '../../../contract/api-types.ts';
import { loadAppSyncSchema } from '../../../contract/appsync-prelude.ts';
import { readSchemaSdl } from '../../../contract/schema-file.ts';

const schema = loadAppSyncSchema(readSchemaSdl());
const CONTRACT_FILE = new URL('../../../contract/api-types.ts', import.meta.url);

interface ContractField {
  readonly optional: boolean;
  /** The TypeScript type as written, e.g. `string | null`, `readonly T[]`. */
  readonly type: string;
}

/** Every exported interface of the contract: name → field name → field. */
function contractInterfaces(): Map<string, Map<string, ContractField>> {
  const source = ts.createSourceFile('api-types.ts', readFileSync(CONTRACT_FILE, 'utf8'), ts.ScriptTarget.Latest);
  const interfaces = new Map<string, Map<string, ContractField>>();
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const fields = new Map<string, ContractField>();
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member) || member.type === undefined) continue;
      fields.set(member.name.getText(source), {
        optional: member.questionToken !== undefined,
        type: member.type.getText(source),
      });
    }
    interfaces.set(statement.name.text, fields);
  }
  return interfaces;
}

const SCALARS: Readonly<Record<string, string>> = {
  String: 'string',
  ID: 'string',
  Int: 'number',
  Float: 'number',
  Boolean: 'boolean',
  AWSDateTime: 'string',
  AWSJSON: 'Readonly<Record<string, string>>|Readonly<Record<string, unknown>>',
};

/** Whether the TypeScript type (without `| null`) can stand for the GraphQL type (without its null-ness). */
function typeMatches(tsType: string, graphqlType: GraphQLType, connectionItem?: string): boolean {
  const inner = getNullableType(graphqlType);
  if (isListType(inner)) {
    const element = /^readonly (\w+)\[\]$/.exec(tsType)?.[1];
    if (element === undefined) return false;
    return element === 'T' ? getNamedType(inner).name === connectionItem : typeMatches(element, inner.ofType);
  }
  const named = getNamedType(inner);
  const scalar = SCALARS[named.name];
  if (scalar !== undefined) return scalar.split('|').includes(tsType);
  return tsType === named.name;
}

function compare(
  fields: Map<string, ContractField>,
  graphqlFields: Record<string, GraphQLField<unknown, unknown> | GraphQLInputField>,
  kind: 'input' | 'output',
  connectionItem?: string,
): string[] {
  const problems: string[] = [];
  const names = new Set([...fields.keys(), ...Object.keys(graphqlFields)]);
  for (const name of names) {
    const field = fields.get(name);
    const graphqlField = graphqlFields[name];
    if (field === undefined || graphqlField === undefined) {
      problems.push(`${name}: only in ${field === undefined ? 'schema.graphql' : 'the contract'}`);
      continue;
    }
    const nullable = !isNonNullType(graphqlField.type);
    const tsNullable = kind === 'input' ? field.optional : / \| null$/.test(field.type);
    if (nullable !== tsNullable) {
      problems.push(`${name}: ${nullable ? 'nullable' : 'non-null'} in the schema, not in the contract`);
    }
    const bare = field.type.replace(/ \| null$/, '');
    if (!typeMatches(bare, graphqlField.type, connectionItem)) {
      problems.push(`${name}: ${field.type} does not stand for ${String(graphqlField.type)}`);
    }
  }
  return problems;
}

describe('contract/api-types.ts', () => {
  const interfaces = contractInterfaces();

  it('has every input and output type of the schema, field for field', () => {
    const problems: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || type.name === 'Query' || type.name === 'Mutation') continue;
      if (!isObjectType(type) && !isInputObjectType(type)) continue;
      const connection = /^(\w+)Connection$/.exec(type.name)?.[1];
      const fields = interfaces.get(connection === undefined ? type.name : 'Connection');
      if (fields === undefined) {
        problems.push(`${type.name}: no interface in the contract`);
        continue;
      }
      const kind = isInputObjectType(type) ? 'input' : 'output';
      problems.push(...compare(fields, type.getFields(), kind, connection).map((line) => `${type.name}.${line}`));
    }
    expect(problems).toEqual([]);
  });

  it('has no interface the schema does not declare', () => {
    const declared = Object.keys(schema.getTypeMap());
    expect([...interfaces.keys()].filter((name) => name !== 'Connection' && !declared.includes(name))).toEqual([]);
  });

  it('lists the DeviceStatus and DeviceEventType values of the schema, in order', () => {
    const values = (name: string) => {
      const type = schema.getType(name);
      return isEnumType(type) ? type.getValues().map((value) => value.name) : [];
    };
    expect([...DEVICE_STATUSES]).toEqual(values('DeviceStatus'));
    expect([...DEVICE_EVENT_TYPES]).toEqual(values('DeviceEventType'));
  });

  it('notices drift: a field the schema lacks', () => {
    const device = new Map(interfaces.get('Device'));
    device.set('firmware', { optional: false, type: 'string' });
    const type = schema.getType('Device');
    expect(isObjectType(type) && compare(device, type.getFields(), 'output')).toEqual([
      'firmware: only in the contract',
    ]);
  });

  it('notices drift: a nullable field made non-null', () => {
    const device = new Map(interfaces.get('Device'));
    device.set('issuedAt', { optional: false, type: 'string' });
    const type = schema.getType('Device');
    expect(isObjectType(type) && compare(device, type.getFields(), 'output')).toEqual([
      'issuedAt: nullable in the schema, not in the contract',
    ]);
  });
});
