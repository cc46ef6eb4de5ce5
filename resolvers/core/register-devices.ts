/**
 * Admins register devices, one or up to 100 at a time. Each device gets its own one-time token,
 * returned only here; the table keeps its SHA-256.
 *
 * A batch is all or nothing as far as single-item writes allow: every serial is checked first, then each
 * item is created with a condition that it does not exist; if one create still loses a race, the items
 * this call created are deleted again (conditionally on being untouched) and the call fails.
 */
import type { Caller } from '../ports.ts';
import { parseThingAttributes } from './attributes.ts';
import { recordEvent } from './audit.ts';
import { TOKEN_TTL_BOUNDS, type CoreContext } from './context.ts';
import type { DeviceRecord } from './device.ts';
import { deviceView, type DeviceView } from './device-view.ts';
import { ConditionFailedError, CvmError } from './errors.ts';
import { requireSerialNumber, requireThingName } from './identifiers.ts';
import { generateToken } from './token.ts';

export const MAX_BATCH = 100;
/** Parallel writes within one batch: enough to be quick, few enough not to be throttled. */
const WRITE_CONCURRENCY = 10;

export interface RegisterDeviceInput {
  readonly serialNumber?: unknown;
  readonly thingName?: unknown;
  readonly attributes?: unknown;
  readonly tokenTtlSeconds?: unknown;
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

  const created: DeviceRecord[] = [];
  let failure: unknown;
  await forEachLimited(prepared, WRITE_CONCURRENCY, async ({ record }) => {
    if (failure !== undefined) return;
    try {
      await ctx.store.create(record);
      created.push(record);
    } catch (error) {
      failure ??= error;
    }
  });
  if (failure !== undefined) {
    await undoCreates(ctx, created);
    if (failure instanceof ConditionFailedError) throw alreadyExists([], 'were registered by someone else meanwhile');
    throw failure;
  }

  for (const { record } of prepared) {
    await recordEvent(ctx, record.serialNumber, 'REGISTERED', caller, {
      thingName: record.thingName,
      tokenExpiresAt: record.tokenExpiresAt ?? '',
    });
  }
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
    const now = ctx.clock.now();
    const { token, tokenHash } = generateToken(ctx.random);
    const tokenExpiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
    const record: DeviceRecord = {
      serialNumber,
      thingName,
      status: 'PENDING',
      ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
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

async function undoCreates(ctx: CoreContext, created: readonly DeviceRecord[]): Promise<void> {
  await forEachLimited(created, WRITE_CONCURRENCY, async (record) => {
    try {
      await ctx.store.delete(record.serialNumber, record.version);
    } catch (error) {
      // Touched since (a device already used its token?): leave it; an admin sees it in `devices`.
      ctx.telemetry.log('warn', 'Could not undo a registration from a failed batch', {
        serialNumber: record.serialNumber,
        error: error instanceof Error ? error.name : String(error),
      });
    }
  });
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
