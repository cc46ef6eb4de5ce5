/**
 * Property: every GraphQL field, given any arguments by any caller, answers through the resolver dispatch with
 * data or a typed error from the known list, never InternalError and never an untyped failure.
 *
 * Arguments are generated from schema.graphql itself (so a new field or argument is fuzzed without a change
 * here): each argument of its declared type, mixed with values of the wrong type, nulls, missing arguments and
 * wholly random JSON. Strings are drawn partly from values that reach deep into the use cases: serials of
 * registered devices, their real tokens, valid CSRs for them, page tokens the API really returned.
 *
 * The harness is the real core (dynalite, the local CA): most inputs are refused before any read, so the
 * store is hit only by inputs that earned it.
 */
import fc from 'fast-check';
import { isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLInputType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppSyncSchema } from '../../../contract/appsync-prelude.ts';
import type { ResolverEnvelope, ResolverEvent, ResolverIdentity } from '../../../contract/lambda-envelope.ts';
import { fieldsNeedingResolvers } from '../../../contract/root-fields.ts';
import { readSchemaSdl } from '../../../contract/schema-file.ts';
import { createFieldResolver } from '../../../resolvers/resolve-field.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../support/core-harness.ts';
import { makeCsr } from '../../support/csr.ts';
import { AnswerTally, FUZZ_SEED, FUZZ_TIMEOUT_MS, runs, TYPED_REFUSALS } from '../../support/fuzz.ts';

const schema = loadAppSyncSchema(readSchemaSdl());
const FIELDS = fieldsNeedingResolvers(schema);

let h: CoreHarness;
let resolve: (event: ResolverEvent) => Promise<ResolverEnvelope>;
/** Strings worth more than random ones: they get past the first checks. */
const interesting: string[] = ['', ' ', 'null', '{}', '[]', '{"a":"b"}', 'SN-UNKNOWN', 'x'.repeat(129), '\u0000'];

/** A registered device's own values, by the argument names that take them. */
type DeviceValues = Readonly<Record<'serialNumber' | 'registrationToken' | 'csr', string>>;
const devices: DeviceValues[] = [];

const ADMIN_IDENTITY: ResolverIdentity = { userArn: ADMIN.arn, accountId: '000000000000', username: 'fuzz' };

beforeAll(async () => {
  h = await startCoreHarness();
  resolve = createFieldResolver(h.ctx);
  for (let index = 0; index < 4; index += 1) {
    const serialNumber = `SN-FUZZ-${index}`;
    const answer = await resolve({
      parentTypeName: 'Mutation',
      fieldName: 'registerDevice',
      arguments: { input: { serialNumber, attributes: '{"line":"7"}' } },
      identity: ADMIN_IDENTITY,
    });
    const registration = 'data' in answer ? (answer.data as { registrationToken: string }) : undefined;
    if (registration === undefined) throw new Error(`could not register ${serialNumber}`);
    const { csrPem } = await makeCsr({ commonName: serialNumber });
    interesting.push(serialNumber, registration.registrationToken, csrPem);
    devices.push({ serialNumber, registrationToken: registration.registrationToken, csr: csrPem });
  }
  const page = await resolve({
    parentTypeName: 'Query',
    fieldName: 'devices',
    arguments: { limit: 1 },
    identity: ADMIN_IDENTITY,
  });
  const nextToken = 'data' in page ? (page.data as { nextToken: string | null }).nextToken : null;
  if (nextToken !== null) interesting.push(nextToken, `${nextToken}x`, nextToken.slice(1));
});

const tallies: AnswerTally[] = [];
afterAll(async () => {
  for (const tally of tallies) console.log(tally.summary());
  await h?.close();
});

/** Any JSON value, shallow: what a caller who ignores the schema might send. */
const junk: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2 });

const randomString = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.stringMatching(/^[A-Za-z0-9:_-]{1,130}$/),
);

function stringValue(): fc.Arbitrary<string> {
  return fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...interesting) }, { weight: 2, arbitrary: randomString });
}

/**
 * Values for a GraphQL input type: mostly of the type, sometimes null, sometimes something else entirely.
 * An argument named like one of `device`'s values mostly gets that value, so whole requests hang together.
 */
function valueFor(type: GraphQLInputType, device: DeviceValues, name: string, depth = 0): fc.Arbitrary<unknown> {
  const own = (device as Readonly<Record<string, string>>)[name];
  if (own !== undefined) {
    return fc.oneof(
      { weight: 3, arbitrary: fc.constant(own) },
      { weight: 1, arbitrary: valueFor(type, device, '', depth) },
    );
  }
  const wrong = fc.oneof(fc.constant(null), junk);
  const inner = isNonNullType(type) ? type.ofType : type;
  let right: fc.Arbitrary<unknown>;
  if (isListType(inner)) {
    right = fc.array(valueFor(inner.ofType, device, name, depth + 1), { maxLength: depth === 0 ? 6 : 3 });
  } else if (isInputObjectType(inner)) {
    const fields = Object.values(inner.getFields());
    right = fc.record(
      Object.fromEntries(fields.map((field) => [field.name, valueFor(field.type, device, field.name, depth + 1)])),
      {
        requiredKeys: fields.filter((field) => isNonNullType(field.type)).map((field) => field.name),
      },
    );
  } else if (isEnumType(inner)) {
    right = fc.oneof(fc.constantFrom(...inner.getValues().map((value) => value.name)), randomString);
  } else if (isScalarType(inner) && (inner.name === 'Int' || inner.name === 'Float')) {
    right = fc.oneof(
      fc.integer({ min: -5, max: 150 }),
      fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
    );
  } else if (isScalarType(inner) && inner.name === 'Boolean') {
    right = fc.boolean();
  } else if (isScalarType(inner) && inner.name === 'AWSJSON') {
    right = fc.oneof(
      stringValue(),
      junk.map((value) => JSON.stringify(value)),
    );
  } else {
    right = stringValue();
  }
  return fc.oneof({ weight: 6, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

function argumentsFor(typeName: string, fieldName: string): fc.Arbitrary<Record<string, unknown>> {
  const root = typeName === 'Query' ? schema.getQueryType() : schema.getMutationType();
  const field = root?.getFields()[fieldName];
  if (field === undefined) throw new Error(`${typeName}.${fieldName} is not in the schema`);
  const shaped = fc.constantFrom(...devices).chain((device) =>
    fc.record(Object.fromEntries(field.args.map((arg) => [arg.name, valueFor(arg.type, device, arg.name)])), {
      requiredKeys: [],
    }),
  );
  return fc.oneof(
    { weight: 8, arbitrary: shaped },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), junk, { maxKeys: 4 }) },
  );
}

const identity: fc.Arbitrary<ResolverIdentity | null> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(ADMIN_IDENTITY) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.record({ userArn: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }) },
);

function isTyped(answer: ResolverEnvelope): boolean {
  if ('data' in answer) return true;
  return TYPED_REFUSALS.has(answer.error.errorType) && typeof answer.error.message === 'string';
}

describe('resolver dispatch fuzz', () => {
  it.each(FIELDS.map(({ typeName, fieldName }) => [`${typeName}.${fieldName}`, typeName, fieldName] as const))(
    '%s answers any arguments from any caller with data or a typed error',
    async (name, typeName, fieldName) => {
      const tally = new AnswerTally(name);
      tallies.push(tally);
      await fc.assert(
        fc.asyncProperty(argumentsFor(typeName, fieldName), identity, async (args, caller) => {
          const event: ResolverEvent = { parentTypeName: typeName, fieldName, arguments: args, identity: caller };
          const answer = await resolve(event);
          tally.record(event, answer, isTyped(answer), 'data' in answer ? 'data' : answer.error.errorType);
        }),
        { numRuns: runs(25, 3_200), seed: FUZZ_SEED },
      );
      expect(tally.untyped).toEqual([]);
    },
    FUZZ_TIMEOUT_MS,
  );
});
