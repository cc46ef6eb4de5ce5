/**
 * Admins register devices, one or up to 100 at a time. Each device gets its own one-time token,
 * returned only here; the table keeps its SHA-256.
 *
 * A batch is all or nothing as far as single-item writes allow: every serial is checked first, then each
 * item is created with a condition that it does not exist; if one create still loses a race, the items
 * this call created are deleted again (conditionally on being untouched) and the call fails.
 */
import type { Caller } from './ports.ts';
import { parseThingAttributes } from './attributes.ts';
import { recordEvents } from './audit.ts';
import { TOKEN_TTL_BOUNDS, type CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import { deviceView, type DeviceView } from './device-view.ts';
import { ConditionFailedError, CvmError } from './errors.ts';
import { requireSerialNumber, requireThingName } from './identifiers.ts';
import { inspectPublicKeyPem } from './public-key.ts';
import { issueToken } from './token.ts';

export const MAX_BATCH = 100;
/**
 * Parallel writes within one batch: a whole batch of thing names (then of devices) in one round, so that
 * registering 100 devices costs a handful of round trips; DynamoDB on demand takes 100 writes at once easily,
 * and a throttled write fails the batch, which is undone and retried by the caller.
 */
const WRITE_CONCURRENCY = MAX_BATCH;

export interface RegisterDeviceInput {
  readonly serialNumber?: unknown;
  readonly thingName?: unknown;
  readonly attributes?: unknown;
  readonly tokenTtlSeconds?: unknown;
  readonly publicKey?: unknown;
}

export interface DeviceRegistration {
  readonly registrationToken: string;
  readonly tokenExpiresAt: string;
  readonly device: DeviceView;
}

interface PreparedRegistration {
  readonly record: DeviceRecord;
  readonly registration: DeviceRegistration;
}

export async function registerDevice(
  ctx: CoreContext,
  input: RegisterDeviceInput,
  caller: Caller,
): Promise<DeviceRegistration> {
  const [registration] = await registerDevices(ctx, [input], caller);
  if (registration === undefined) throw new Error('registerDevices returned nothing for one input');
  return registration;
}

export async function registerDevices(
  ctx: CoreContext,
  inputs: unknown,
  caller: Caller,
): Promise<DeviceRegistration[]> {
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH) {
    throw new CvmError('InvalidInput', `Register between 1 and ${MAX_BATCH} devices per call.`);
  }
  const prepared = inputs.map((input: unknown, index) => prepare(ctx, input, inputs.length > 1 ? index : undefined));

  const serials = prepared.map((item) => item.record.serialNumber);
  const repeated = serials.filter((serial, index) => serials.indexOf(serial) !== index);
  if (repeated.length > 0) throw alreadyExists([...new Set(repeated)], 'appear more than once in this call');
  const existing = await ctx.store.getMany(serials);
  if (existing.length > 0)
    throw alreadyExists(
      existing.map((record) => record.serialNumber),
      'are already registered',
    );

  const thingNames = prepared.map((item) => item.record.thingName);
  const sharedThings = thingNames.filter((name, index) => thingNames.indexOf(name) !== index);
  if (sharedThings.length > 0) {
    throw new CvmError(
      'DeviceAlreadyExists',
      `Each device needs its own thing; these thing names appear more than once in this call: ${[...new Set(sharedThings)].slice(0, 10).join(', ')}. Nothing in this call was registered.`,
    );
  }

  // Thing names first: a device's thing (its MQTT client id and topics under the device policy) is its own.
  const reserved: DeviceRecord[] = [];
  const taken: string[] = [];
  const failures: unknown[] = [];
  await forEachLimited(prepared, WRITE_CONCURRENCY, async ({ record }) => {
    try {
      await ctx.store.reserveThingName(record.thingName, record.serialNumber);
      reserved.push(record);
    } catch (error) {
      if (error instanceof ConditionFailedError) taken.push(record.thingName);
      else failures.push(error);
    }
  });
  if (taken.length > 0 || failures.length > 0) {
    await releaseThingNames(ctx, reserved);
    if (failures.length > 0) throw failures[0];
    throw new CvmError(
      'DeviceAlreadyExists',
      `These thing names belong to other devices: ${taken.slice(0, 10).join(', ')}. Nothing in this call was registered.`,
    );
  }

  const created: DeviceRecord[] = [];
  const lostRace = new Set<DeviceRecord>();
  const createFailures: unknown[] = [];
  await forEachLimited(prepared, WRITE_CONCURRENCY, async ({ record }) => {
    if (createFailures.length > 0) return;
    try {
      await ctx.store.create(record);
      created.push(record);
    } catch (error) {
      if (error instanceof ConditionFailedError) lostRace.add(record);
      createFailures.push(error);
    }
  });
  if (createFailures.length > 0) {
    const [createFailure] = createFailures;
    const deleted = await undoCreates(ctx, created);
    // A serial someone else registered meanwhile may hold the same name: that reservation is theirs now.
    const neverCreated = reserved.filter((record) => !created.includes(record) && !lostRace.has(record));
    await releaseThingNames(ctx, [...deleted, ...neverCreated]);
    if (createFailure instanceof ConditionFailedError)
      throw alreadyExists([], 'were registered by someone else meanwhile');
    throw createFailure;
  }

  await recordEvents(
    ctx,
    'REGISTERED',
    caller,
    prepared.map(({ record }) => ({
      serialNumber: record.serialNumber,
      details: {
        thingName: record.thingName,
        tokenExpiresAt: record.tokenExpiresAt ?? '',
        ...(record.publicKeyPin === undefined ? {} : { publicKeyPin: record.publicKeyPin }),
      },
    })),
  );
  return prepared.map((item) => item.registration);
}

function prepare(ctx: CoreContext, input: unknown, index: number | undefined): PreparedRegistration {
  const where = index === undefined ? '' : ` (input ${index})`;
  if (typeof input !== 'object' || input === null)
    throw new CvmError('InvalidInput', `Each input must be an object${where}.`);
  const fields = input as RegisterDeviceInput;
  try {
    const serialNumber = requireSerialNumber(fields.serialNumber);
    const thingName =
      fields.thingName === undefined || fields.thingName === null
        ? requireThingName(`${ctx.settings.thingNamePrefix}${serialNumber}`)
        : requireThingName(fields.thingName);
    const attributes = parseThingAttributes(fields.attributes);
    const ttl = tokenTtlSeconds(ctx, fields.tokenTtlSeconds);
    const publicKeyPin = optionalPublicKeyPin(fields.publicKey);
    const now = ctx.clock.now();
    const { token, tokenHash, tokenExpiresAt } = issueToken(ctx.random, now, ttl);
    const record: DeviceRecord = {
      serialNumber,
      thingName,
      status: 'PENDING',
      ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
      ...(publicKeyPin === undefined ? {} : { publicKeyPin }),
      tokenHash,
      tokenExpiresAt,
      failedAttempts: 0,
      locked: false,
      registeredAt: now.toISOString(),
      updatedAt: now.toISOString(),
      version: 1,
    };
    return { record, registration: { registrationToken: token, tokenExpiresAt, device: deviceView(record) } };
  } catch (error) {
    if (error instanceof CvmError && index !== undefined) {
      throw new CvmError(error.errorType, `${error.message.replace(/\.$/, '')}${where}.`, { cause: error });
    }
    throw error;
  }
}

export function tokenTtlSeconds(ctx: CoreContext, value: unknown): number {
  if (value === undefined || value === null) return ctx.settings.tokenTtlSeconds;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < TOKEN_TTL_BOUNDS.min ||
    value > TOKEN_TTL_BOUNDS.max
  ) {
    throw new CvmError(
      'InvalidInput',
      `tokenTtlSeconds must be a whole number from ${TOKEN_TTL_BOUNDS.min} to ${TOKEN_TTL_BOUNDS.max}.`,
    );
  }
  return value;
}

/**
 * The fingerprint of the key an admin pins (the `publicKey` input), checked by the rules a CSR's key must meet;
 * undefined when none is given. A key cvm would refuse in a CSR is `InvalidInput` here, before anything is written.
 */
export function optionalPublicKeyPin(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return inspectPublicKeyPem(value).publicKeyFingerprint;
}

/** Give back thing names this call reserved. A name another call holds now is not ours to release. */
async function releaseThingNames(ctx: CoreContext, records: readonly DeviceRecord[]): Promise<void> {
  await forEachLimited(records, WRITE_CONCURRENCY, async (record) => {
    try {
      await ctx.store.releaseThingName(record.thingName, record.serialNumber);
    } catch (error) {
      ctx.telemetry.log('warn', 'Could not release a thing name from a failed batch', {
        thingName: record.thingName,
        error: error instanceof Error ? error.name : String(error),
      });
    }
  });
}

/** Delete the devices this call created; returns those deleted (one touched since is left alone). */
async function undoCreates(ctx: CoreContext, created: readonly DeviceRecord[]): Promise<DeviceRecord[]> {
  const deleted: DeviceRecord[] = [];
  await forEachLimited(created, WRITE_CONCURRENCY, async (record) => {
    try {
      await ctx.store.delete(record.serialNumber, record.version);
      deleted.push(record);
    } catch (error) {
      // Touched since (a device already used its token?): leave it; an admin sees it in `devices`.
      ctx.telemetry.log('warn', 'Could not undo a registration from a failed batch', {
        serialNumber: record.serialNumber,
        error: error instanceof Error ? error.name : String(error),
      });
    }
  });
  return deleted;
}

function alreadyExists(serials: readonly string[], what: string): CvmError {
  const shown = serials.slice(0, 10).join(', ');
  const more = serials.length > 10 ? ` and ${serials.length - 10} more` : '';
  const subject =
    serials.length > 0 ? `These serial numbers ${what}: ${shown}${more}.` : `Some serial numbers ${what}.`;
  return new CvmError('DeviceAlreadyExists', `${subject} Nothing in this call was registered.`);
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  });
  await Promise.all(workers);
}
