/**
 * The DeviceStore on the one DynamoDB table (layout: contract/table-layout.ts).
 * It only marshals items and translates DynamoDB's errors into the core's; every rule about what a
 * write means lives in the core. Every write is a single-item conditional write, because dynalite has
 * no transactions and ignores ReturnValuesOnConditionCheckFailure.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DeviceEvent, DeviceRecord, DeviceStatus } from '../../core/device.ts';
import { ConditionFailedError, CvmError, ThrottledError } from '../../core/errors.ts';
import { parseDeviceRecord } from '../../core/device-record.ts';
import type { BlindClaim, DeviceStore, Page, SwapOutcome } from '../../core/ports.ts';
import { ItemCalls, type Item } from './item-calls.ts';
import { rotationDueAt } from '../../core/device-lifecycle.ts';
import { PARTITION_KEY, ROTATION_INDEX, SORT_KEY, STATUS_INDEX } from '../../../contract/table-layout.ts';

export interface DynamoDbDeviceStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Wait between retries of unprocessed batch keys. Default: a real timer; tests pass one that returns at once. */
  sleep?: (ms: number) => Promise<void>;
}

/** BatchGetItem's limit of keys per request. */
const BATCH_GET_LIMIT = 100;
/** BatchWriteItem's limit of items per request. */
const BATCH_WRITE_LIMIT = 25;
/** Attempts at a batch before its still-unprocessed keys or items are reported as throttling. */
const BATCH_ATTEMPTS = 5;
const BATCH_FIRST_BACKOFF_MS = 25;
/** Far longer than any key this store hands out; refuses to parse anything bigger. */
const MAX_CURSOR_LENGTH = 2048;

const DEVICE_SORT_KEY = 'DEVICE';
const EVENT_SORT_KEY_PREFIX = 'EVENT#';

type Key = Record<string, string>;

const devicePartitionKey = (serialNumber: string): string => `DEVICE#${serialNumber}`;
const thingNameKey = (thingName: string): Key => ({ [PARTITION_KEY]: `THING#${thingName}`, [SORT_KEY]: 'THING' });

export class DynamoDbDeviceStore implements DeviceStore {
  private readonly items: ItemCalls;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: DynamoDbDeviceStoreOptions) {
    this.items = new ItemCalls(options.client, options.tableName);
    this.sleep = options.sleep ?? ((ms) => sleepFor(ms));
  }

  async get(serialNumber: string): Promise<DeviceRecord | undefined> {
    const item = await this.items.get({
      Key: deviceKey(serialNumber),
      // The core reads right after losing a condition to learn why: it must see the winning write.
      ConsistentRead: true,
    });
    return item === undefined ? undefined : toDeviceRecord(item);
  }

  async getMany(serialNumbers: readonly string[]): Promise<DeviceRecord[]> {
    // BatchGetItem refuses a request that names the same key twice.
    const unique = [...new Set(serialNumbers)];
    const chunks: string[][] = [];
    for (let start = 0; start < unique.length; start += BATCH_GET_LIMIT) {
      chunks.push(unique.slice(start, start + BATCH_GET_LIMIT));
    }
    const found = (await Promise.all(chunks.map((chunk) => this.batchGet(chunk.map(deviceKey))))).flat();
    const bySerial = new Map(found.map((record) => [record.serialNumber, record]));
    return unique.flatMap((serialNumber) => bySerial.get(serialNumber) ?? []);
  }

  async create(record: DeviceRecord): Promise<void> {
    await this.items.putNew(toDeviceItem(record));
  }

  async replace(record: DeviceRecord, expectedVersion: number): Promise<SwapOutcome> {
    if (record.version !== expectedVersion + 1) {
      throw new Error(
        `A replaced device must carry version ${expectedVersion + 1} (expected ${expectedVersion} + 1), not ${record.version}.`,
      );
    }
    try {
      await this.items.put({ Item: toDeviceItem(record), ...atVersion(expectedVersion) });
      return 'won';
    } catch (error) {
      if (error instanceof ConditionFailedError) return 'lost';
      throw error;
    }
  }

  async claim(serialNumber: string, claim: BlindClaim): Promise<DeviceRecord | undefined> {
    try {
      const item = await this.items.update({
        Key: deviceKey(serialNumber),
        UpdateExpression: 'SET #status = :issuing, #lease = :lease, #updatedAt = :now, #version = #version + :one',
        // ISO-8601 times of one format compare as strings; a device without an expiry never matches.
        ConditionExpression:
          'attribute_exists(#pk) AND #status = :pending AND #locked = :false AND #tokenHash = :tokenHash AND #tokenExpiresAt > :now' +
          // A pinned device is claimed only for its own key (a refused claim is explained by KeyMismatch).
          ' AND (attribute_not_exists(#publicKeyPin) OR #publicKeyPin = :fingerprint)',
        ExpressionAttributeNames: {
          '#pk': PARTITION_KEY,
          '#status': 'status',
          '#lease': 'lease',
          '#updatedAt': 'updatedAt',
          '#version': 'version',
          '#locked': 'locked',
          '#tokenHash': 'tokenHash',
          '#tokenExpiresAt': 'tokenExpiresAt',
          '#publicKeyPin': 'publicKeyPin',
        },
        ExpressionAttributeValues: {
          ':fingerprint': claim.lease.publicKeyFingerprint,
          ':issuing': 'ISSUING',
          ':pending': 'PENDING',
          ':false': false,
          ':one': 1,
          ':lease': claim.lease,
          ':now': claim.now,
          ':tokenHash': claim.tokenHash,
        },
        ReturnValues: 'ALL_NEW',
      });
      return item === undefined ? undefined : toDeviceRecord(item);
    } catch (error) {
      if (error instanceof ConditionFailedError) return undefined;
      throw error;
    }
  }

  async delete(serialNumber: string, expectedVersion: number): Promise<void> {
    await this.items.delete({ Key: deviceKey(serialNumber), ...atVersion(expectedVersion) });
  }

  async reserveThingName(thingName: string, serialNumber: string): Promise<void> {
    await this.items.put({
      Item: { ...thingNameKey(thingName), thingName, serialNumber },
      ConditionExpression: 'attribute_not_exists(#pk) OR #serialNumber = :serialNumber',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#serialNumber': 'serialNumber' },
      ExpressionAttributeValues: { ':serialNumber': serialNumber },
    });
  }

  async releaseThingName(thingName: string, serialNumber: string): Promise<void> {
    await this.items.delete({
      Key: thingNameKey(thingName),
      ConditionExpression: '#serialNumber = :serialNumber',
      ExpressionAttributeNames: { '#serialNumber': 'serialNumber' },
      ExpressionAttributeValues: { ':serialNumber': serialNumber },
    });
  }

  async listByStatus(status: DeviceStatus, limit: number, cursor?: string): Promise<Page<DeviceRecord>> {
    const startKey = cursor === undefined ? undefined : decodeCursor(cursor, isStatusIndexKeyOf(status));
    const { Items: items = [], LastEvaluatedKey: lastKey } = await this.items.query({
      IndexName: STATUS_INDEX.name,
      KeyConditionExpression: '#status = :status',
      ExpressionAttributeNames: { '#status': STATUS_INDEX.partitionKey },
      ExpressionAttributeValues: { ':status': status },
      Limit: limit,
      ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
    });
    return toPage(items.map(toDeviceRecord), lastKey);
  }

  async listRotations(
    kind: 'ROTATION' | 'RETIRING',
    options: { readonly limit: number; readonly cursor?: string; readonly dueBy?: string },
  ): Promise<Page<DeviceRecord>> {
    const { limit, cursor, dueBy } = options;
    const startKey = cursor === undefined ? undefined : decodeCursor(cursor, isRotationIndexKeyOf(kind));
    const { Items: items = [], LastEvaluatedKey: lastKey } = await this.items.query({
      IndexName: ROTATION_INDEX.name,
      KeyConditionExpression: dueBy === undefined ? '#work = :work' : '#work = :work AND #due <= :dueBy',
      ExpressionAttributeNames: {
        '#work': ROTATION_INDEX.partitionKey,
        ...(dueBy === undefined ? {} : { '#due': ROTATION_INDEX.sortKey }),
      },
      ExpressionAttributeValues: { ':work': kind, ...(dueBy === undefined ? {} : { ':dueBy': dueBy }) },
      Limit: limit,
      ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
    });
    return toPage(items.map(toDeviceRecord), lastKey);
  }

  async appendEvent(event: DeviceEvent, onceKey?: string): Promise<void> {
    if (onceKey !== undefined) {
      try {
        await this.items.putNew(toEventItem(event, onceKey));
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
      }
      return;
    }
    // A random suffix keeps two events of the same millisecond apart; on the rare clash, draw again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.items.putNew(toEventItem(event));
        return;
      } catch (error) {
        if (!(error instanceof ConditionFailedError) || attempt === 3) throw error;
      }
    }
  }

  async appendEvents(events: readonly DeviceEvent[]): Promise<void> {
    // BatchWriteItem takes no condition; each item's sort key carries a fresh random suffix instead, and all
    // chunks go at once: a batch of 100 events costs one round trip, plus one per retry of unprocessed items.
    const items = events.map((event) => toEventItem(event));
    const chunks: Item[][] = [];
    for (let start = 0; start < items.length; start += BATCH_WRITE_LIMIT) {
      chunks.push(items.slice(start, start + BATCH_WRITE_LIMIT));
    }
    await Promise.all(chunks.map((chunk) => this.batchPut(chunk)));
  }

  async listEvents(serialNumber: string, limit: number, cursor?: string): Promise<Page<DeviceEvent>> {
    const startKey = cursor === undefined ? undefined : decodeCursor(cursor, isEventKeyOf(serialNumber));
    const { Items: items = [], LastEvaluatedKey: lastKey } = await this.items.query({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :eventPrefix)',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
      ExpressionAttributeValues: { ':pk': devicePartitionKey(serialNumber), ':eventPrefix': EVENT_SORT_KEY_PREFIX },
      ScanIndexForward: false,
      // Base-table reads are eventually consistent unless asked; an event written just now must be listed.
      ConsistentRead: true,
      Limit: limit,
      ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
    });
    return toPage(items.map(toDeviceEvent), lastKey);
  }

  private async batchGet(keys: Key[]): Promise<DeviceRecord[]> {
    const records: DeviceRecord[] = [];
    let pending: Item[] = keys;
    for (let attempt = 1; ; attempt++) {
      const batch = pending;
      const { items, unprocessedKeys } = await this.items.batchGet(batch);
      records.push(...items.map(toDeviceRecord));
      pending = unprocessedKeys;
      if (pending.length === 0) return records;
      if (attempt === BATCH_ATTEMPTS) {
        throw new ThrottledError(
          `DynamoDB left ${pending.length} keys of a batch read unprocessed after ${BATCH_ATTEMPTS} attempts.`,
        );
      }
      // Unprocessed keys mean the table is busy: back off exponentially, with full jitter.
      await this.sleep(Math.random() * BATCH_FIRST_BACKOFF_MS * 2 ** (attempt - 1));
    }
  }

  private async batchPut(items: Item[]): Promise<void> {
    let pending = items;
    for (let attempt = 1; ; attempt++) {
      const batch = pending;
      pending = await this.items.batchPut(batch);
      if (pending.length === 0) return;
      if (attempt === BATCH_ATTEMPTS) {
        throw new ThrottledError(
          `DynamoDB left ${pending.length} items of a batch write unprocessed after ${BATCH_ATTEMPTS} attempts.`,
        );
      }
      await this.sleep(Math.random() * BATCH_FIRST_BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
}

/** The condition of a compare-and-swap on a device: its item exists and is at `expectedVersion`. */
function atVersion(expectedVersion: number) {
  return {
    ConditionExpression: 'attribute_exists(#pk) AND #version = :expectedVersion',
    ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#version': 'version' },
    ExpressionAttributeValues: { ':expectedVersion': expectedVersion },
  };
}

function deviceKey(serialNumber: string): Key {
  return { [PARTITION_KEY]: devicePartitionKey(serialNumber), [SORT_KEY]: DEVICE_SORT_KEY };
}

/** The device, its keys, and the rotation index keys while it has rotation work (a Put drops them after). */
function toDeviceItem(record: DeviceRecord): Item {
  const due = rotationDueAt(record);
  return {
    ...record,
    ...deviceKey(record.serialNumber),
    ...(due === undefined ? {} : { [ROTATION_INDEX.partitionKey]: due.kind, [ROTATION_INDEX.sortKey]: due.at }),
  };
}

function toDeviceRecord(item: Item): DeviceRecord {
  const {
    [PARTITION_KEY]: _partitionKey,
    [SORT_KEY]: _sortKey,
    [ROTATION_INDEX.partitionKey]: _work,
    [ROTATION_INDEX.sortKey]: _due,
    ...record
  } = item;
  return parseDeviceRecord(record);
}

/**
 * Orders events written by this process within one millisecond (a reset writes REVOKED then RESET);
 * the random part keeps writers in different processes apart.
 */
let eventSequence = 0;

function toEventItem(event: DeviceEvent, onceKey?: string): Item {
  eventSequence = (eventSequence + 1) % 1_000_000;
  // An event written once per key is the first of its millisecond ('!' sorts before the digits): it records the
  // decision (a revocation, an issue) that the other events of that moment follow.
  const suffix =
    onceKey === undefined
      ? `${String(eventSequence).padStart(6, '0')}${randomBytes(4).toString('hex')}`
      : `!${onceKey}`;
  // The type is stored as `eventType`, and there is no `status`: events must stay out of the status index.
  return {
    [PARTITION_KEY]: devicePartitionKey(event.serialNumber),
    [SORT_KEY]: `${EVENT_SORT_KEY_PREFIX}${event.at}#${suffix}`,
    serialNumber: event.serialNumber,
    eventType: event.type,
    at: event.at,
    actor: event.actor,
    ...(event.details === undefined ? {} : { details: event.details }),
  };
}

function toDeviceEvent(item: Item): DeviceEvent {
  const event = {
    serialNumber: item['serialNumber'],
    type: item['eventType'],
    at: item['at'],
    actor: item['actor'],
    ...(item['details'] === undefined ? {} : { details: item['details'] }),
  };
  return event as DeviceEvent;
}

function toPage<T>(items: T[], lastKey: Item | undefined): Page<T> {
  return lastKey === undefined ? { items } : { items, cursor: encodeCursor(lastKey) };
}

function encodeCursor(lastKey: Item): string {
  return Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url');
}

/**
 * Read back a cursor this store handed out. The core signs cursors before a client sees them, but a
 * cursor of another query (or a bug) must still not become an arbitrary ExclusiveStartKey.
 */
function decodeCursor(cursor: string, isValidKey: (key: Key) => boolean): Key {
  const invalid = (cause?: unknown) =>
    new CvmError('InvalidInput', 'The nextToken is not valid for this query.', cause === undefined ? {} : { cause });
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw invalid(error);
  }
  if (!isStringRecord(decoded) || !isValidKey(decoded)) throw invalid();
  return decoded;
}

function isStringRecord(value: unknown): value is Key {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((field) => typeof field === 'string')
  );
}

function hasExactlyKeys(key: Key, names: readonly string[]): boolean {
  const present = Object.keys(key);
  return present.length === names.length && names.every((name) => Object.hasOwn(key, name));
}

/** A status index key names the index keys and the table keys of one device item of that status. */
function isStatusIndexKeyOf(status: DeviceStatus): (key: Key) => boolean {
  return (key) =>
    hasExactlyKeys(key, [PARTITION_KEY, SORT_KEY, STATUS_INDEX.partitionKey, STATUS_INDEX.sortKey]) &&
    key[STATUS_INDEX.partitionKey] === status &&
    key[SORT_KEY] === DEVICE_SORT_KEY &&
    key[PARTITION_KEY] === devicePartitionKey(key[STATUS_INDEX.sortKey] ?? '');
}

/** A rotation index key names the index keys and the table keys of one device item with that kind of work. */
function isRotationIndexKeyOf(kind: 'ROTATION' | 'RETIRING'): (key: Key) => boolean {
  return (key) =>
    hasExactlyKeys(key, [PARTITION_KEY, SORT_KEY, ROTATION_INDEX.partitionKey, ROTATION_INDEX.sortKey]) &&
    key[ROTATION_INDEX.partitionKey] === kind &&
    key[SORT_KEY] === DEVICE_SORT_KEY &&
    (key[PARTITION_KEY] ?? '').startsWith('DEVICE#');
}

function isEventKeyOf(serialNumber: string): (key: Key) => boolean {
  return (key) =>
    hasExactlyKeys(key, [PARTITION_KEY, SORT_KEY]) &&
    key[PARTITION_KEY] === devicePartitionKey(serialNumber) &&
    (key[SORT_KEY] ?? '').startsWith(EVENT_SORT_KEY_PREFIX);
}
