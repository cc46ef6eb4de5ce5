/**
 * The field dispatch behind every GraphQL field: that it covers the schema with the callers the schema allows,
 * refuses admin fields to devices before anything runs, turns failures into typed envelopes without leaking
 * internals, counts them, and never logs a token or a CSR. Real core on dynalite and the local CA.
 */
import { randomBytes } from 'node:crypto';
import type { GraphQLObjectType } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadAppSyncSchema } from '../../../contract/appsync-prelude.ts';
import { fieldsNeedingResolvers } from '../../../contract/root-fields.ts';
import { allowedAuthModes } from '../../../local/appsync-twin/field-auth.ts';
import { ThrottledError, type ErrorType } from '../../../resolvers/core/errors.ts';
import { registerDevice } from '../../../resolvers/core/register-devices.ts';
import type { ResolverEnvelope, ResolverEvent, ResolverIdentity } from '../../../contract/lambda-envelope.ts';
import { FIELDS, createFieldResolver } from '../../../resolvers/resolve-field.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../support/core-harness.ts';
import { makeCsr } from '../../support/csr.ts';
import { readSchemaSdl } from '../../../contract/schema-file.ts';

const SCHEMA = loadAppSyncSchema(readSchemaSdl());
const ADMIN_IDENTITY: ResolverIdentity = { userArn: ADMIN.arn, accountId: '000000000000', username: 'test-admin' };

/** `Type.field` → true when AppSync lets an API-key caller (a device) use it. */
const SCHEMA_FIELDS = new Map(
  fieldsNeedingResolvers(SCHEMA).map(({ typeName, fieldName }) => {
    const type = SCHEMA.getType(typeName) as GraphQLObjectType;
    const field = type.getFields()[fieldName];
    if (field === undefined) throw new Error(`${typeName}.${fieldName} vanished from the schema`);
    return [`${typeName}.${fieldName}`, allowedAuthModes(type, field, 'AWS_IAM').has('API_KEY')];
  }),
);

function event(field: string, args: Record<string, unknown>, identity: ResolverIdentity | null): ResolverEvent {
  const [parentTypeName = '', fieldName = ''] = field.split('.');
  return { parentTypeName, fieldName, arguments: args, identity };
}

function errorTypeOf(envelope: ResolverEnvelope): ErrorType | undefined {
  return 'error' in envelope ? envelope.error.errorType : undefined;
}

let h: CoreHarness;
let resolve: (event: ResolverEvent) => Promise<ResolverEnvelope>;
let counter = 0;

function nextSerial(): string {
  counter += 1;
  return `RF-${String(counter).padStart(4, '0')}`;
}

beforeAll(async () => {
  h = await startCoreHarness();
  resolve = createFieldResolver(h.ctx);
});
afterAll(async () => {
  await h.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  h.authority.reset();
  h.telemetry.lines.length = 0;
  h.telemetry.counts.length = 0;
});

describe('FIELDS', () => {
  it('has a resolver for exactly the Query and Mutation fields of schema.graphql', () => {
    expect(Object.keys(FIELDS).sort()).toEqual([...SCHEMA_FIELDS.keys()].sort());
  });

  it.each([...SCHEMA_FIELDS])('lets %s be called by the callers the schema allows (API key: %s)', (field, apiKey) => {
    expect(FIELDS[field]?.callers).toBe(apiKey ? 'device' : 'admin');
  });

  it('leaves exactly the enrollment and rotation fields to devices', () => {
    const deviceFields = Object.entries(FIELDS).filter(([, definition]) => definition.callers === 'device');
    expect(deviceFields.map(([field]) => field)).toEqual([
      'Mutation.requestCertificate',
      'Mutation.renewCertificate',
      'Mutation.confirmCertificate',
    ]);
  });
});

describe('createFieldResolver', () => {
  describe('refuses admin fields to callers without an IAM identity', () => {
    const adminFields = Object.keys(FIELDS).filter((field) => FIELDS[field]?.callers === 'admin');
    const identities: [string, ResolverIdentity | null][] = [
      ['an API-key caller (identity null)', null],
      ['an identity without a userArn', { username: 'someone', sourceIp: ['203.0.113.7'] }],
      ['an empty userArn', { userArn: '' }],
    ];
    const cases = adminFields.flatMap((field) => identities.map(([who, identity]) => [field, who, identity] as const));

    it.each(cases)('%s from %s is Unauthorized and changes nothing', async (field, _who, identity) => {
      const existing = nextSerial();
      await registerDevice(h.ctx, { serialNumber: existing }, ADMIN);
      const before = await h.table.store.get(existing);
      const eventsBefore = await h.table.store.listEvents(existing, 100);
      const fresh = nextSerial();
      const argumentsByField: Readonly<Record<string, Record<string, unknown>>> = {
        'Mutation.registerDevice': { input: { serialNumber: fresh } },
        'Mutation.registerDevices': { input: [{ serialNumber: fresh }] },
        'Mutation.revokeCertificate': { serialNumber: existing, reason: 'test' },
        'Mutation.resetDevice': { serialNumber: existing },
        'Mutation.reconcile': { input: { dryRun: false } },
        'Mutation.pinPublicKey': { serialNumber: existing, publicKey: null },
        'Query.device': { serialNumber: existing },
        'Query.devices': { status: 'PENDING' },
        'Query.deviceEvents': { serialNumber: existing },
      };
      const args = argumentsByField[field];
      if (args === undefined) throw new Error(`no test arguments for ${field}; add them above`);

      const envelope = await resolve(event(field, args, identity));

      const [parentTypeName, fieldName] = field.split('.');
      expect(envelope).toEqual({
        error: {
          errorType: 'Unauthorized',
          message: `Not Authorized to access ${fieldName} on type ${parentTypeName}`,
        },
      });
      expect(await h.table.store.get(fresh)).toBeUndefined();
      expect(await h.table.store.get(existing)).toEqual(before);
      expect(await h.table.store.listEvents(existing, 100)).toEqual(eventsBefore);
      expect(h.authority.calls).toEqual([]);
    });
  });

  it('serves an admin field to an IAM caller and names the caller in the audit trail', async () => {
    const serial = nextSerial();

    const envelope = await resolve(
      event('Mutation.registerDevice', { input: { serialNumber: serial } }, ADMIN_IDENTITY),
    );

    expect(envelope).toMatchObject({ data: { device: { serialNumber: serial, status: 'PENDING' } } });
    const events = await h.table.store.listEvents(serial, 10);
    expect(events.items.map((item) => [item.type, item.actor])).toEqual([['REGISTERED', ADMIN.arn]]);
  });

  it.each([
    ['a field the schema does not have', 'Query.nothingHere'],
    ['a subscription', 'Subscription.deviceChanged'],
    ['a name inherited by every object', 'Query.constructor'],
  ])('answers InternalError for %s', async (_what, field) => {
    const envelope = await resolve(event(field, {}, ADMIN_IDENTITY));

    expect(errorTypeOf(envelope)).toBe('InternalError');
  });

  it('answers InternalError for an unexpected failure without showing its text to the client', async () => {
    const internal = new Error('connect ECONNREFUSED 10.20.30.40:443 (table cvm-prod-secret)');
    vi.spyOn(h.table.store, 'get').mockRejectedValueOnce(internal);

    const envelope = await resolve(event('Query.device', { serialNumber: nextSerial() }, ADMIN_IDENTITY));

    expect(errorTypeOf(envelope)).toBe('InternalError');
    expect(JSON.stringify(envelope)).not.toMatch(/ECONNREFUSED|10\.20\.30\.40|cvm-prod-secret/);
    // Operators still see what happened.
    const refused = h.telemetry.lines.find((line) => line.message === 'Request refused');
    expect(refused).toMatchObject({ level: 'error', fields: { field: 'Query.device', errorType: 'InternalError' } });
    expect(String(refused?.fields?.error)).toContain('ECONNREFUSED');
  });

  it('answers Throttled when a ThrottledError escapes the use case', async () => {
    vi.spyOn(h.table.store, 'get').mockRejectedValueOnce(new ThrottledError('DynamoDB GetItem was throttled'));

    const envelope = await resolve(event('Query.device', { serialNumber: nextSerial() }, ADMIN_IDENTITY));

    expect(errorTypeOf(envelope)).toBe('Throttled');
    expect(JSON.stringify(envelope)).not.toContain('GetItem');
  });

  describe('counts every refused request by error type', () => {
    it.each<{ what: string; request: () => ResolverEvent; arrange?: () => void; errorType: ErrorType }>([
      {
        what: 'an admin field without identity',
        request: () => event('Query.devices', {}, null),
        errorType: 'Unauthorized',
      },
      {
        what: 'bad input',
        request: () => event('Query.device', { serialNumber: 'no spaces' }, ADMIN_IDENTITY),
        errorType: 'InvalidInput',
      },
      {
        what: 'an unknown field',
        request: () => event('Query.nothingHere', {}, ADMIN_IDENTITY),
        errorType: 'InternalError',
      },
      {
        what: 'throttling',
        request: () => event('Query.device', { serialNumber: nextSerial() }, ADMIN_IDENTITY),
        arrange: () => vi.spyOn(h.table.store, 'get').mockRejectedValueOnce(new ThrottledError('throttled')),
        errorType: 'Throttled',
      },
    ])('$what → RequestFailed { errorType: $errorType }', async ({ request, arrange, errorType }) => {
      arrange?.();

      await resolve(request());

      expect(h.telemetry.counts).toEqual([{ metric: 'RequestFailed', dimensions: { errorType } }]);
    });

    it('counts nothing as failed when the request is served', async () => {
      await resolve(event('Query.devices', { limit: 1 }, ADMIN_IDENTITY));

      expect(h.telemetry.counts.filter((count) => count.metric === 'RequestFailed')).toEqual([]);
    });
  });

  describe('never logs the registration token or the CSR', () => {
    it.each<{
      outcome: string;
      commonNameFor: (serial: string) => string;
      arrange?: () => void;
      errorType?: ErrorType;
    }>([
      { outcome: 'is issued', commonNameFor: (serial) => serial },
      {
        outcome: 'names another serial in the CSR',
        commonNameFor: () => 'SOMEONE-ELSE',
        errorType: 'CsrSubjectMismatch',
      },
      {
        outcome: 'fails inside the authority',
        commonNameFor: (serial) => serial,
        arrange: () => h.authority.failNext('attachThingPrincipal', new Error('IoT is down')),
        errorType: 'InternalError',
      },
    ])('when a request $outcome', async ({ commonNameFor, arrange, errorType }) => {
      const serial = nextSerial();
      const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
      const { csrPem } = await makeCsr({ commonName: commonNameFor(serial) });
      arrange?.();

      const envelope = await resolve(
        event('Mutation.requestCertificate', { input: { serialNumber: serial, registrationToken, csr: csrPem } }, null),
      );

      expect(errorTypeOf(envelope)).toBe(errorType);
      expect(h.telemetry.lines.length).toBeGreaterThan(0);
      const logged = h.telemetry.text();
      expect(logged).not.toContain(registrationToken);
      // JSON escapes the PEM's newlines, so look for each base64 line rather than the PEM as a whole.
      for (const line of csrPem.split('\n').filter((text) => text !== '' && !text.startsWith('-----'))) {
        expect(logged).not.toContain(line);
      }
      expect(logged).not.toContain('CERTIFICATE REQUEST');
    });

    it('when a request sends a wrong token, that token included', async () => {
      const serial = nextSerial();
      await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
      const { csrPem } = await makeCsr({ commonName: serial });
      // Well formed, so that it is hashed and compared like a real one.
      const wrongToken = randomBytes(32).toString('base64url');

      const envelope = await resolve(
        event(
          'Mutation.requestCertificate',
          { input: { serialNumber: serial, registrationToken: wrongToken, csr: csrPem } },
          null,
        ),
      );

      expect(errorTypeOf(envelope)).toBe('InvalidRegistrationToken');
      expect(h.telemetry.text()).not.toContain(wrongToken);
    });
  });
});
