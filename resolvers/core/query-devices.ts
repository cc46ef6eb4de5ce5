/** Admin reads: one device, a page of devices (optionally of one status), a device's audit trail. */
import type { CoreContext } from './context.ts';
import { DEVICE_STATUSES, type DeviceRecord, type DeviceStatus } from './device.ts';
import { deviceEventView, deviceView, type DeviceEventView, type DeviceView } from './device-view.ts';
import { CvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import { decodeNextToken, encodeNextToken, pageLimit } from './paging.ts';

export interface Connection<T> {
  readonly items: T[];
  readonly nextToken: string | null;
}

export async function getDevice(ctx: CoreContext, serialNumber: unknown): Promise<DeviceView | null> {
  const record = await ctx.store.get(requireSerialNumber(serialNumber));
  return record === undefined ? null : deviceView(record);
}

/**
 * A page of devices. With a status, one walk of the status index; without, the statuses one after
 * another (still the index, never a scan), the token remembering which status it is in.
 */
export async function listDevices(
  ctx: CoreContext,
  args: { status?: unknown; rotationPending?: unknown; limit?: unknown; nextToken?: unknown },
): Promise<Connection<DeviceView>> {
  const limit = pageLimit(args.limit);
  if (requireRotationFilter(args.rotationPending)) {
    if (args.status !== undefined && args.status !== null) {
      throw new CvmError('InvalidInput', 'Give status or rotationPending, not both: devices rotating are all ACTIVE.');
    }
    return listRotating(ctx, limit, args.nextToken);
  }
  const statuses = requireStatusFilter(args.status);
  const scope = `devices:${statuses.length === 1 ? statuses[0] : '*'}`;
  let part = 0;
  let cursor: string | undefined;
  if (args.nextToken !== undefined && args.nextToken !== null) {
    const position = await decodeNextToken(ctx, args.nextToken, scope);
    if (!Number.isInteger(position.part) || position.part < 0 || position.part >= statuses.length) {
      throw new CvmError('InvalidInput', 'The nextToken is not valid for this query; start again without it.');
    }
    part = position.part;
    cursor = position.cursor === '' ? undefined : position.cursor;
  }

  const items: DeviceRecord[] = [];
  while (part < statuses.length && items.length < limit) {
    const status = statuses[part] as DeviceStatus;
    const page = await ctx.store.listByStatus(status, limit - items.length, cursor);
    items.push(...page.items);
    if (page.cursor !== undefined) {
      cursor = page.cursor;
    } else {
      part += 1;
      cursor = undefined;
    }
  }
  const more = part < statuses.length;
  return {
    items: items.map(deviceView),
    nextToken: more ? await encodeNextToken(ctx, { scope, part, cursor: cursor ?? '' }) : null,
  };
}

/** Devices with a rotation under way, soonest deadline first: one walk of the rotation index. */
async function listRotating(ctx: CoreContext, limit: number, nextToken: unknown): Promise<Connection<DeviceView>> {
  const scope = 'devices:rotating';
  const cursor =
    nextToken === undefined || nextToken === null ? undefined : (await decodeNextToken(ctx, nextToken, scope)).cursor;
  const page = await ctx.store.listRotations('ROTATION', { limit, ...(cursor === undefined ? {} : { cursor }) });
  return {
    items: page.items.map(deviceView),
    nextToken: page.cursor === undefined ? null : await encodeNextToken(ctx, { scope, part: 0, cursor: page.cursor }),
  };
}

function requireRotationFilter(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new CvmError('InvalidInput', 'rotationPending must be true or false.');
  return value;
}

export async function listDeviceEvents(
  ctx: CoreContext,
  args: { serialNumber?: unknown; limit?: unknown; nextToken?: unknown },
): Promise<Connection<DeviceEventView>> {
  const serialNumber = requireSerialNumber(args.serialNumber);
  const limit = pageLimit(args.limit);
  const scope = `events:${serialNumber}`;
  const cursor =
    args.nextToken === undefined || args.nextToken === null
      ? undefined
      : (await decodeNextToken(ctx, args.nextToken, scope)).cursor;
  const page = await ctx.store.listEvents(serialNumber, limit, cursor);
  return {
    items: page.items.map(deviceEventView),
    nextToken: page.cursor === undefined ? null : await encodeNextToken(ctx, { scope, part: 0, cursor: page.cursor }),
  };
}

function requireStatusFilter(value: unknown): readonly DeviceStatus[] {
  if (value === undefined || value === null) return DEVICE_STATUSES;
  if (typeof value === 'string' && (DEVICE_STATUSES as readonly string[]).includes(value)) {
    return [value as DeviceStatus];
  }
  throw new CvmError('InvalidInput', `status must be one of ${DEVICE_STATUSES.join(', ')}.`);
}
