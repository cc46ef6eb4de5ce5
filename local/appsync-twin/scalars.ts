/**
 * AppSync's own scalars, validated the way the AppSync developer guide describes them
 * (https://docs.aws.amazon.com/appsync/latest/devguide/scalars.html):
 *
 * - AWSDate `YYYY-MM-DD`, AWSTime `hh:mm(:ss(.s{1,9}))`, both with an optional time zone offset;
 *   AWSDateTime `YYYY-MM-DDThh:mm(:ss(.s{1,9}))` with a compulsory offset. An offset is `Z` or `±hh:mm(:ss)`.
 * - AWSTimestamp: an integer number of seconds since 1970-01-01T00:00Z.
 * - AWSJSON: on input a JSON *string*; "any valid JSON construct is automatically parsed and loaded in the
 *   resolver code as maps, lists, or scalar values rather than as the literal input strings", and unquoted
 *   strings or invalid JSON are a validation error. On output the value is rendered as a JSON string.
 * - AWSEmail (RFC 822 local@domain), AWSURL (scheme://…), AWSPhone, AWSIPAddress (v4 or v6, optional /prefix).
 */
import { isIP } from 'node:net';
import { GraphQLError, Kind, print } from 'graphql';
import type { GraphQLScalarType, ValueNode } from 'graphql';

interface ScalarRules {
  /** Checks (and converts) a value that came in a variable or, via `fromLiteral`, in the query text. */
  readonly parse: (value: unknown) => unknown;
  /** Turns a resolver's value into what the response carries. */
  readonly serialize: (value: unknown) => unknown;
  /** The literal kinds the query text may use for this scalar. */
  readonly literalKinds: readonly Kind[];
}

const OFFSET = '(?:Z|[+-]\\d{2}:\\d{2}(?::\\d{2})?)';
const DATE = '(\\d{4})-(\\d{2})-(\\d{2})';
const TIME = '(\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.\\d{1,9})?)?';
const AWS_DATE = new RegExp(`^${DATE}${OFFSET}?$`);
const AWS_TIME = new RegExp(`^${TIME}${OFFSET}?$`);
const AWS_DATE_TIME = new RegExp(`^${DATE}T${TIME}${OFFSET}$`);
const AWS_EMAIL = /^[^\s@]+@[^\s@]+$/;
// E.164-like numbers and the common national spellings AppSync accepts: digits with spaces, dashes, dots, parens.
const AWS_PHONE = /^\+?[\d\s().-]{3,}$/;

function isCalendarDate(year: string, month: string, day: string): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

function isClockTime(hours: string, minutes: string, seconds: string | undefined): boolean {
  return Number(hours) <= 23 && Number(minutes) <= 59 && (seconds === undefined || Number(seconds) <= 59);
}

function invalid(scalar: string, value: unknown): GraphQLError {
  return new GraphQLError(`${scalar} cannot represent ${typeof value === 'string' ? `"${value}"` : String(value)}`);
}

function stringMatching(scalar: string, accepts: (value: string) => boolean): (value: unknown) => string {
  return (value) => {
    if (typeof value !== 'string' || !accepts(value)) throw invalid(scalar, value);
    return value;
  };
}

function acceptsAwsDate(value: string): boolean {
  const match = AWS_DATE.exec(value);
  return match !== null && isCalendarDate(match[1]!, match[2]!, match[3]!);
}

function acceptsAwsTime(value: string): boolean {
  const match = AWS_TIME.exec(value);
  return match !== null && isClockTime(match[1]!, match[2]!, match[3]);
}

function acceptsAwsDateTime(value: string): boolean {
  const match = AWS_DATE_TIME.exec(value);
  return (
    match !== null && isCalendarDate(match[1]!, match[2]!, match[3]!) && isClockTime(match[4]!, match[5]!, match[6])
  );
}

function acceptsUrl(value: string): boolean {
  try {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) && new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}

function acceptsIpAddress(value: string): boolean {
  const [address = '', prefix, ...rest] = value.split('/');
  if (rest.length > 0) return false;
  const version = isIP(address);
  if (version === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

function parseAwsJson(value: unknown): unknown {
  if (typeof value !== 'string') throw invalid('AWSJSON', value);
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    throw new GraphQLError(`AWSJSON cannot represent "${value}": it is not valid JSON`, {
      originalError: error as Error,
    });
  }
}

/** A resolver that already returns a JSON string is passed through; anything else is encoded. */
function serializeAwsJson(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function serializeDateTime(value: unknown): string {
  return stringMatching('AWSDateTime', acceptsAwsDateTime)(value instanceof Date ? value.toISOString() : value);
}

function parseTimestamp(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid('AWSTimestamp', value);
  return value;
}

const stringScalar = (scalar: string, accepts: (value: string) => boolean): ScalarRules => ({
  parse: stringMatching(scalar, accepts),
  serialize: stringMatching(scalar, accepts),
  literalKinds: [Kind.STRING],
});

/** Validation rules of every AppSync scalar, by name. */
export const APPSYNC_SCALAR_RULES: Readonly<Record<string, ScalarRules>> = {
  AWSDate: stringScalar('AWSDate', acceptsAwsDate),
  AWSTime: stringScalar('AWSTime', acceptsAwsTime),
  AWSDateTime: { ...stringScalar('AWSDateTime', acceptsAwsDateTime), serialize: serializeDateTime },
  AWSTimestamp: { parse: parseTimestamp, serialize: parseTimestamp, literalKinds: [Kind.INT] },
  AWSEmail: stringScalar('AWSEmail', (value) => AWS_EMAIL.test(value)),
  AWSJSON: { parse: parseAwsJson, serialize: serializeAwsJson, literalKinds: [Kind.STRING] },
  AWSURL: stringScalar('AWSURL', acceptsUrl),
  AWSPhone: stringScalar('AWSPhone', (value) => AWS_PHONE.test(value)),
  AWSIPAddress: stringScalar('AWSIPAddress', acceptsIpAddress),
};

function literalValue(node: ValueNode): unknown {
  if (node.kind === Kind.STRING) return node.value;
  if (node.kind === Kind.INT) return Number.parseInt(node.value, 10);
  return undefined;
}

/**
 * Give the scalars that graphql-js built from the prelude's `scalar AWS…` declarations AppSync's rules.
 * Scalars built from SDL have identity functions; replacing them in place keeps every reference valid.
 */
export function applyAppSyncScalarRules(scalar: GraphQLScalarType): void {
  const rules = APPSYNC_SCALAR_RULES[scalar.name];
  if (rules === undefined) return;
  scalar.parseValue = rules.parse;
  scalar.serialize = rules.serialize;
  scalar.parseLiteral = (node) => {
    if (!rules.literalKinds.includes(node.kind)) {
      throw new GraphQLError(`${scalar.name} cannot represent the literal ${print(node)}`, { nodes: node });
    }
    try {
      return rules.parse(literalValue(node));
    } catch (error) {
      // Point the error at the literal, so that the client sees where in its query the bad value is.
      if (error instanceof GraphQLError) throw new GraphQLError(error.message, { nodes: node, originalError: error });
      throw error;
    }
  };
}
