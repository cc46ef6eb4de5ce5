import { isScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { APPSYNC_SCALAR_RULES } from '../../../../local/appsync-twin/scalars.ts';
import { loadTwinSchema } from '../../../../local/appsync-twin/schema.ts';

function rules(name: string) {
  const scalar = APPSYNC_SCALAR_RULES[name];
  if (scalar === undefined) throw new Error(`no rules for ${name}`);
  return scalar;
}

describe('AppSync scalar rules', () => {
  it('cover every AWS scalar the shared prelude declares', () => {
    const declared = Object.values(loadTwinSchema('type Query { a: String }').getTypeMap())
      .filter((type) => isScalarType(type) && type.name.startsWith('AWS'))
      .map((type) => type.name)
      .sort();

    expect(declared).toEqual(Object.keys(APPSYNC_SCALAR_RULES).sort());
  });

  const accepted: [string, unknown][] = [
    ['AWSDateTime', '2025-03-04T05:06:07.123Z'],
    ['AWSDateTime', '2025-03-04T05:06Z'],
    ['AWSDateTime', '2025-03-04T05:06:07.123456789+05:30'],
    ['AWSDateTime', '2024-02-29T23:59:59-07:00:30'],
    ['AWSDate', '1970-01-01'],
    ['AWSDate', '1970-01-01+05:30'],
    ['AWSTime', '12:30'],
    ['AWSTime', '12:30:15.5Z'],
    ['AWSTimestamp', 1_700_000_000],
    ['AWSEmail', 'ops@example.com'],
    ['AWSURL', 'https://example.com/path?q=1'],
    ['AWSPhone', '+1 555 123 4567'],
    ['AWSIPAddress', '10.0.0.1'],
    ['AWSIPAddress', '2001:db8::/32'],
  ];

  it.each(accepted)('%s accepts %j', (name, value) => {
    expect(rules(name).parse(value)).toEqual(value);
  });

  const rejected: [string, unknown][] = [
    ['AWSDateTime', '2025-03-04T05:06:07'],
    ['AWSDateTime', '2025-03-04 05:06:07Z'],
    ['AWSDateTime', '2025-02-30T05:06:07Z'],
    ['AWSDateTime', '2025-03-04T24:06:07Z'],
    ['AWSDateTime', 1_700_000_000],
    ['AWSDate', '2025-13-01'],
    ['AWSTime', '25:00'],
    ['AWSTimestamp', 1.5],
    ['AWSTimestamp', '1700000000'],
    ['AWSEmail', 'not-an-email'],
    ['AWSURL', 'example.com'],
    ['AWSIPAddress', '10.0.0.1/33'],
    ['AWSJSON', '{unquoted: 1}'],
    ['AWSJSON', { an: 'object' }],
  ];

  it.each(rejected)('%s rejects %j', (name, value) => {
    expect(() => rules(name).parse(value)).toThrow(/cannot represent/);
  });

  it('gives resolvers the value an AWSJSON input string encodes', () => {
    expect(rules('AWSJSON').parse('{"region":"eu","floor":3}')).toEqual({ region: 'eu', floor: 3 });
  });

  it('renders an AWSJSON value as a JSON string and passes a JSON string through', () => {
    expect(rules('AWSJSON').serialize({ region: 'eu' })).toBe('{"region":"eu"}');
    expect(rules('AWSJSON').serialize('{"region":"eu"}')).toBe('{"region":"eu"}');
  });

  it('renders a Date as an AWSDateTime and refuses a string that is not one', () => {
    expect(rules('AWSDateTime').serialize(new Date('2025-03-04T05:06:07Z'))).toBe('2025-03-04T05:06:07.000Z');
    expect(() => rules('AWSDateTime').serialize('yesterday')).toThrow(/cannot represent/);
  });
});
