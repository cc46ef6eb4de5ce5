import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ensureTable, startDynalite } from '../../../../../local/dynalite.ts';
import { createTableInput, ROTATION_INDEX, STATUS_INDEX } from '../../../../../contract/table-layout.ts';
import { DynamoDbDeviceStore } from '../../../../../resolvers/adapters/store/dynamodb-store.ts';
import { DYNAMODB_CLIENT_DEFAULTS } from '../../../../../resolvers/adapters/store/item-calls.ts';
import type { DeviceEvent, DeviceRecord, DeviceStatus } from '../../../../../resolvers/core/device.ts';
import { claim as claimTransition, isRefusal } from '../../../../../resolvers/core/device-lifecycle.ts';
import { ConditionFailedError, CvmError, ThrottledError } from '../../../../../resolvers/core/errors.ts';
import type { Page } from '../../../../../resolvers/core/ports.ts';
import { startTestTable, type TestTable } from '../../../../support/dynalite.ts';

function device(serialNumber: string, overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    serialNumber,
    thingName: serialNumber,
    status: 'PENDING',
    failedAttempts: 0,
    locked: false,
    registeredAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    version: 1,
    ...overrides,
  };
}

/** Every optional field present, so that a round trip proves each one is stored and read back. */
function issuedDevice(serialNumber: string): DeviceRecord {
  return device(serialNumber, {
    status: 'ISSUING',
    attributes: { model: 'sensor-2', site: 'berlin', empty: '' },
    tokenHash: 'a'.repeat(64),
    tokenExpiresAt: '2025-01-08T00:00:00.000Z',
    failedAttempts: 2,
    locked: true,
    lease: { owner: 'request-1', expiresAt: '2025-01-02T00:00:30.000Z', publicKeyFingerprint: 'b'.repeat(64) },
    publicKeyFingerprint: 'b'.repeat(64),
    certificateId: 'c'.repeat(64),
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${'c'.repeat(64)}`,
    certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    issuedAt: '2025-01-02T00:00:00.000Z',
    revokedAt: '2025-01-03T00:00:00.000Z',
    revocationReason: 'lost in transit',
    updatedAt: '2025-01-03T00:00:00.000Z',
    version: 7,
  });
}

/** An ACTIVE device with a rotation pending confirmation: every rotation field present. */
function rotatingDevice(serialNumber: string, confirmBy = '2025-01-09T00:00:00.000Z'): DeviceRecord {
  return device(serialNumber, {
    status: 'ACTIVE',
    publicKeyFingerprint: 'b'.repeat(64),
    certificateId: 'c'.repeat(64),
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${'c'.repeat(64)}`,
    certificatePem: 'OLD PEM',
    issuedAt: '2025-01-02T00:00:00.000Z',
    rotation: {
      publicKeyFingerprint: 'e'.repeat(64),
      certificateId: 'd'.repeat(64),
      certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${'d'.repeat(64)}`,
      certificatePem: 'NEW PEM',
      issuedAt: '2025-01-02T00:00:00.000Z',
      confirmBy,
    },
    supersededRenewalKeys: ['f'.repeat(64)],
    version: 9,
  });
}

function retiringDevice(serialNumber: string, since = '2025-01-05T00:00:00.000Z'): DeviceRecord {
  const { rotation: _rotation, ...active } = rotatingDevice(serialNumber);
  return {
    ...active,
    retiring: [
      {
        certificateId: 'd'.repeat(64),
        certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${'d'.repeat(64)}`,
        reason: 'ROLLED_BACK',
        since,
        keptCertificateId: 'c'.repeat(64),
      },
    ],
  };
}

function event(serialNumber: string, at: string, overrides: Partial<DeviceEvent> = {}): DeviceEvent {
  return { serialNumber, type: 'REGISTERED', at, actor: 'arn:aws:iam::123456789012:user/admin', ...overrides };
}

async function readAllPages<T>(
  readPage: (cursor?: string) => Promise<Page<T>>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await readPage(cursor);
    items.push(...page.items);
    cursor = page.cursor;
    pages++;
    // A runaway cursor would loop forever; no test here has anywhere near this many pages.
    expect(pages).toBeLessThan(100);
  } while (cursor !== undefined);
  return { items, pages };
}

const cursorOf = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

describe('DynamoDbDeviceStore on dynalite', () => {
  let table: TestTable;
  let store: DynamoDbDeviceStore;

  beforeAll(async () => {
    table = await startTestTable();
    store = table.store;
  });
  afterAll(() => table.close());

  describe('create and get', () => {
    it.each([
      ['without any optional field', device('round-trip-minimal')],
      ['with every optional field', issuedDevice('round-trip-full')],
      ['rotating', rotatingDevice('round-trip-rotating')],
      ['retiring', retiringDevice('round-trip-retiring')],
    ])('reads back exactly the record it stored, %s', async (_case, record) => {
      await store.create(record);

      expect(await store.get(record.serialNumber)).toStrictEqual(record);
    });

    it('answers undefined for a device that does not exist', async () => {
      expect(await store.get('never-registered')).toBeUndefined();
    });

    it('refuses to create a device that already exists, and keeps the first', async () => {
      const first = device('created-twice');
      await store.create(first);

      await expect(store.create(device('created-twice', { thingName: 'other' }))).rejects.toBeInstanceOf(
        ConditionFailedError,
      );
      expect(await store.get('created-twice')).toStrictEqual(first);
    });
  });

  describe('ensureTable', () => {
    it('leaves a table that already exists, and its items, as they are', async () => {
      await store.create(device('ensure-table-kept'));

      await ensureTable(table.client, table.tableName);

      expect(await store.get('ensure-table-kept')).toStrictEqual(device('ensure-table-kept'));
    });

    it('migrates a table made before the rotation index: every item kept, the index there and used', async () => {
      const dynalite = await startDynalite();
      try {
        const input = createTableInput('cvm-before-rotation');
        const older = {
          ...input,
          GlobalSecondaryIndexes: input.GlobalSecondaryIndexes?.filter((i) => i.IndexName === STATUS_INDEX.name),
          AttributeDefinitions: input.AttributeDefinitions?.filter(
            (d) => d.AttributeName !== ROTATION_INDEX.partitionKey && d.AttributeName !== ROTATION_INDEX.sortKey,
          ),
        };
        await dynalite.client.send(new CreateTableCommand(older));
        await waitUntilTableExists(
          { client: dynalite.client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
          { TableName: older.TableName },
        );
        const oldStore = new DynamoDbDeviceStore({ client: dynalite.client, tableName: 'cvm-before-rotation' });
        const kept = Array.from({ length: 60 }, (_, i) => device(`kept-${String(i).padStart(2, '0')}`));
        for (const record of kept) await oldStore.create(record);
        await oldStore.appendEvent(event('kept-00', '2025-01-01T00:00:00.000Z'));
        await oldStore.reserveThingName('kept-00', 'kept-00');

        await ensureTable(dynalite.client, 'cvm-before-rotation');
        await ensureTable(dynalite.client, 'cvm-before-rotation');

        expect(await oldStore.getMany(kept.map((record) => record.serialNumber))).toStrictEqual(kept);
        expect((await oldStore.listEvents('kept-00', 10)).items).toHaveLength(1);
        await expect(oldStore.reserveThingName('kept-00', 'someone-else')).rejects.toBeInstanceOf(ConditionFailedError);
        const pending = await readAllPages((cursor) => oldStore.listByStatus('PENDING', 25, cursor));
        expect(pending.items).toHaveLength(60);
        await oldStore.create(rotatingDevice('migrated-rotating'));

        const { Table: described } = await dynalite.client.send(
          new DescribeTableCommand({ TableName: 'cvm-before-rotation' }),
        );
        expect(described?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
          [ROTATION_INDEX.name, STATUS_INDEX.name].sort(),
        );
        const { items } = await oldStore.listRotations('ROTATION', { limit: 10 });
        expect(items.map((item) => item.serialNumber)).toEqual(['migrated-rotating']);
      } finally {
        await dynalite.close();
      }
    });
    it('finishes a migration a crash interrupted after the old table was dropped', async () => {
      const dynalite = await startDynalite();
      try {
        await ensureTable(dynalite.client, 'cvm-crashed-migrating');
        const side = new DynamoDbDeviceStore({ client: dynalite.client, tableName: 'cvm-crashed-migrating' });
        await side.create(device('only-in-the-side-table'));

        await ensureTable(dynalite.client, 'cvm-crashed');

        const main = new DynamoDbDeviceStore({ client: dynalite.client, tableName: 'cvm-crashed' });
        expect(await main.get('only-in-the-side-table')).toStrictEqual(device('only-in-the-side-table'));
        await expect(
          dynalite.client.send(new DescribeTableCommand({ TableName: 'cvm-crashed-migrating' })),
        ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      } finally {
        await dynalite.close();
      }
    });
  });

  describe('replace', () => {
    it('stores the new record when the stored version is the expected one', async () => {
      await store.create(issuedDevice('replace-ok'));
      const { lease: _lease, ...withoutLease } = issuedDevice('replace-ok');
      const next: DeviceRecord = { ...withoutLease, status: 'ACTIVE', version: 8 };

      await expect(store.replace(next, 7)).resolves.toBe('won');

      // PutItem replaces the whole item: a field the new record drops is gone.
      expect(await store.get('replace-ok')).toStrictEqual(next);
    });

    it('refuses a stale version and keeps what is stored', async () => {
      const stored = device('replace-stale', { version: 3 });
      await store.create(stored);

      await expect(store.replace(device('replace-stale', { status: 'ACTIVE', version: 3 }), 2)).resolves.toBe('lost');
      expect(await store.get('replace-stale')).toStrictEqual(stored);
    });

    it('refuses to replace a device that does not exist', async () => {
      await expect(store.replace(device('replace-missing', { version: 2 }), 1)).resolves.toBe('lost');
      expect(await store.get('replace-missing')).toBeUndefined();
    });

    it.each([
      ['the same version', 4],
      ['a version two ahead', 6],
    ])('throws a programming error for a record that carries %s', async (_case, version) => {
      await store.create(device('replace-bad-version', { version: 4 }));

      const replacing = store.replace(device('replace-bad-version', { version }), 4);

      await expect(replacing).rejects.toThrow(/must carry version 5/);
      await expect(replacing).rejects.not.toBeInstanceOf(ConditionFailedError);
      await store.delete('replace-bad-version', 4);
    });
  });

  describe('claim, without reading first', () => {
    const NOW = '2025-06-01T00:00:00.000Z';
    const TOKEN_HASH = 'a'.repeat(64);
    const lease = { owner: 'o-1', expiresAt: '2025-06-01T00:01:00.000Z', publicKeyFingerprint: 'f1' };
    const claimable = (serial: string, overrides: Partial<DeviceRecord> = {}) =>
      device(serial, { tokenHash: TOKEN_HASH, tokenExpiresAt: '2025-06-02T00:00:00.000Z', version: 3, ...overrides });

    it('claims a PENDING device for its token: ISSUING under the lease, version + 1', async () => {
      await store.create(claimable('claim-ok'));
      const claimed = await store.claim('claim-ok', { tokenHash: TOKEN_HASH, now: NOW, lease });
      expect(claimed).toStrictEqual({ ...claimable('claim-ok'), status: 'ISSUING', lease, updatedAt: NOW, version: 4 });
      expect(await store.get('claim-ok')).toStrictEqual(claimed);
    });

    it.each([
      ['another token', {}, 'b'.repeat(64)],
      ['a locked device', { locked: true }, TOKEN_HASH],
      ['an expired token', { tokenExpiresAt: NOW }, TOKEN_HASH],
      ['an ACTIVE device', { status: 'ACTIVE' as const }, TOKEN_HASH],
      ['an ISSUING device', { status: 'ISSUING' as const, lease }, TOKEN_HASH],
    ])('refuses %s and writes nothing', async (why, overrides, tokenHash) => {
      const serial = `claim-refused-${why.replaceAll(' ', '-')}`;
      await store.create(claimable(serial, overrides));
      const before = await store.get(serial);
      await expect(store.claim(serial, { tokenHash, now: NOW, lease })).resolves.toBeUndefined();
      expect(await store.get(serial)).toStrictEqual(before);
    });

    it('refuses a device without a token expiry', async () => {
      const { tokenExpiresAt: _expiry, ...withoutExpiry } = claimable('claim-no-expiry');
      await store.create(withoutExpiry);
      await expect(store.claim('claim-no-expiry', { tokenHash: TOKEN_HASH, now: NOW, lease })).resolves.toBeUndefined();
      expect((await store.get('claim-no-expiry'))?.status).toBe('PENDING');
    });

    it('refuses an unknown serial the same way, creating nothing', async () => {
      await expect(store.claim('claim-nobody', { tokenHash: TOKEN_HASH, now: NOW, lease })).resolves.toBeUndefined();
      expect(await store.get('claim-nobody')).toBeUndefined();
    });

    it('claims a device pinned to the lease key, and refuses one pinned to another key, writing nothing', async () => {
      await store.create(claimable('claim-pinned-same', { publicKeyPin: lease.publicKeyFingerprint }));
      await expect(store.claim('claim-pinned-same', { tokenHash: TOKEN_HASH, now: NOW, lease })).resolves.toMatchObject(
        {
          status: 'ISSUING',
        },
      );
      await store.create(claimable('claim-pinned-other', { publicKeyPin: 'f2' }));
      const before = await store.get('claim-pinned-other');
      await expect(
        store.claim('claim-pinned-other', { tokenHash: TOKEN_HASH, now: NOW, lease }),
      ).resolves.toBeUndefined();
      expect(await store.get('claim-pinned-other')).toStrictEqual(before);
    });

    // The store's condition is the lifecycle's `claim` transition (plus the token) in one write: they must agree.
    it('agrees with the lifecycle claim transition on every kind of device', async () => {
      const kinds: [string, Partial<DeviceRecord>][] = [
        ['pending', {}],
        ['locked', { locked: true }],
        ['expired', { tokenExpiresAt: NOW }],
        ['active', { status: 'ACTIVE' }],
        ['issuing', { status: 'ISSUING', lease }],
        ['revoked', { status: 'REVOKED' }],
        ['pinned-here', { publicKeyPin: lease.publicKeyFingerprint }],
        ['pinned-elsewhere', { publicKeyPin: 'f2' }],
        ['locked-pinned-elsewhere', { locked: true, publicKeyPin: 'f2' }],
      ];
      const disagreements: string[] = [];
      for (const [kind, overrides] of kinds) {
        const serial = `claim-agree-${kind}`;
        const record = claimable(serial, overrides);
        await store.create(record);
        const terms = { now: new Date(NOW), owner: lease.owner, leaseSeconds: 60, publicKeyFingerprint: 'f1' };
        const byLifecycle = !isRefusal(claimTransition(record, terms));
        const byStore = (await store.claim(serial, { tokenHash: TOKEN_HASH, now: NOW, lease })) !== undefined;
        if (byLifecycle !== byStore) disagreements.push(`${kind}: lifecycle ${byLifecycle}, store ${byStore}`);
      }
      expect(disagreements).toEqual([]);
    });
  });

  describe('delete', () => {
    it('refuses a stale version and keeps the device', async () => {
      await store.create(device('delete-stale', { version: 2 }));

      await expect(store.delete('delete-stale', 1)).rejects.toBeInstanceOf(ConditionFailedError);
      expect(await store.get('delete-stale')).toBeDefined();
    });

    it('deletes the device when the version is the expected one', async () => {
      await store.create(device('delete-ok', { version: 2 }));

      await store.delete('delete-ok', 2);

      expect(await store.get('delete-ok')).toBeUndefined();
    });

    it('refuses to delete a device that does not exist', async () => {
      await expect(store.delete('delete-missing', 1)).rejects.toBeInstanceOf(ConditionFailedError);
    });
  });

  describe('getMany', () => {
    it('finds every known device across several batches and leaves out unknown ones', async () => {
      const serials = Array.from({ length: 250 }, (_, index) => `many-${String(index).padStart(3, '0')}`);
      for (const serialNumber of serials) await store.create(device(serialNumber));

      const found = await store.getMany([...serials, 'many-unknown', serials[0] ?? '']);

      expect(found.map((record) => record.serialNumber)).toEqual(serials);
      expect(found[42]).toStrictEqual(device('many-042'));
    });

    it('answers an empty list for no serials', async () => {
      expect(await store.getMany([])).toEqual([]);
    });
  });

  describe('events', () => {
    it('lists a device’s events newest first, page by page, and only that device’s', async () => {
      const times = [3, 0, 6, 1, 5, 2, 4].map((second) => `2025-02-01T00:00:0${second}.000Z`);
      for (const at of times) await store.appendEvent(event('events-paged', at));
      await store.appendEvent(event('events-paged-other', '2025-02-01T00:00:09.000Z'));

      const { items, pages } = await readAllPages((cursor) => store.listEvents('events-paged', 3, cursor));

      expect(items.map((item) => item.at)).toEqual([...times].sort().reverse());
      expect(items.every((item) => item.serialNumber === 'events-paged')).toBe(true);
      expect(pages).toBeGreaterThanOrEqual(3);
    });

    it('keeps two events of the same millisecond', async () => {
      const at = '2025-02-02T00:00:00.123Z';
      await Promise.all([
        store.appendEvent(event('events-same-ms', at, { type: 'TOKEN_FAILED' })),
        store.appendEvent(event('events-same-ms', at, { type: 'LOCKED' })),
      ]);

      const { items } = await store.listEvents('events-same-ms', 10);

      expect(items.map((item) => item.type).sort()).toEqual(['LOCKED', 'TOKEN_FAILED']);
    });

    it.each([
      ['without details', event('events-shape-plain', '2025-02-03T00:00:00.000Z')],
      [
        'with details',
        event('events-shape-details', '2025-02-03T00:00:00.000Z', {
          type: 'ISSUE_FAILED',
          details: { reason: 'Throttled', attempt: 2, retryable: true },
        }),
      ],
    ])('reads back exactly the event it stored, %s', async (_case, stored) => {
      await store.appendEvent(stored);

      expect((await store.listEvents(stored.serialNumber, 10)).items).toStrictEqual([stored]);
    });

    it('appends many events at once, in chunks of 25, each readable as stored', async () => {
      const at = '2025-02-04T00:00:00.000Z';
      const events = Array.from({ length: 60 }, (_, i) =>
        event(`events-batch-${String(i % 30).padStart(2, '0')}`, at, {
          type: i < 30 ? 'REGISTERED' : 'RESET',
          details: { index: i },
        }),
      );

      await store.appendEvents(events);

      for (const serialNumber of ['events-batch-00', 'events-batch-29']) {
        const { items } = await store.listEvents(serialNumber, 10);
        expect(items.map((item) => item.type).sort()).toEqual(['REGISTERED', 'RESET']);
        expect(items).toEqual(expect.arrayContaining(events.filter((e) => e.serialNumber === serialNumber)));
      }
    });

    it('answers no events and no cursor for a device without any', async () => {
      expect(await store.listEvents('events-none', 10)).toStrictEqual({ items: [] });
    });
  });

  describe('thing-name reservations', () => {
    it('holds a name for one serial, idempotently, and lets only that serial release it', async () => {
      const { store } = table;
      await store.reserveThingName('thing-r1', 'SN-R1');
      await store.reserveThingName('thing-r1', 'SN-R1');
      await expect(store.reserveThingName('thing-r1', 'SN-R2')).rejects.toBeInstanceOf(ConditionFailedError);
      await expect(store.releaseThingName('thing-r1', 'SN-R2')).rejects.toBeInstanceOf(ConditionFailedError);
      await store.releaseThingName('thing-r1', 'SN-R1');
      await store.reserveThingName('thing-r1', 'SN-R2');
    });

    it('keeps reservations out of device reads and the status index', async () => {
      const { store } = table;
      await store.reserveThingName('SN-R3', 'SN-R3');
      expect(await store.get('SN-R3')).toBeUndefined();
      const page = await store.listByStatus('PENDING', 100);
      expect(page.items.some((record) => record.serialNumber === 'SN-R3')).toBe(false);
    });
  });
});

describe('DynamoDbDeviceStore.listByStatus on dynalite', () => {
  let table: TestTable;
  let store: DynamoDbDeviceStore;
  const activeSerials = Array.from({ length: 23 }, (_, index) => `active-${String(index).padStart(2, '0')}`);

  beforeAll(async () => {
    // A table of its own, so that the devices of other tests cannot change what is listed.
    table = await startTestTable();
    store = table.store;
    // Created out of order, to show that the index orders by serial.
    for (const serialNumber of [...activeSerials].reverse()) {
      await store.create(device(serialNumber, { status: 'ACTIVE' }));
      await store.appendEvent(event(serialNumber, '2025-03-01T00:00:00.000Z', { type: 'ISSUED' }));
    }
    for (const serialNumber of ['pending-a', 'pending-b']) await store.create(device(serialNumber));
    await store.create(device('revoked-a', { status: 'REVOKED' }));
  });
  afterAll(() => table.close());

  it('pages through every device of the status exactly once, in serial order, and nothing else', async () => {
    const { items, pages } = await readAllPages((cursor) => store.listByStatus('ACTIVE', 5, cursor));

    expect(items.map((item) => item.serialNumber)).toEqual(activeSerials);
    expect(items.every((item) => item.status === 'ACTIVE')).toBe(true);
    expect(pages).toBeGreaterThanOrEqual(5);
    expect(items[0]).toStrictEqual(device('active-00', { status: 'ACTIVE' }));
  });

  it.each<[DeviceStatus, string[]]>([
    ['PENDING', ['pending-a', 'pending-b']],
    ['REVOKED', ['revoked-a']],
    ['ISSUING', []],
  ])('lists only the %s devices', async (status, expected) => {
    const { items } = await readAllPages((cursor) => store.listByStatus(status, 100, cursor));

    expect(items.map((item) => item.serialNumber)).toEqual(expected);
  });

  describe('refuses a cursor it did not hand out for this query', () => {
    const activeKey = { pk: 'DEVICE#active-04', sk: 'DEVICE', status: 'ACTIVE', serialNumber: 'active-04' };

    it.each([
      ['empty', ''],
      ['not base64url', 'not a cursor!'],
      ['not JSON', Buffer.from('{"pk":', 'utf8').toString('base64url')],
      ['a JSON array', cursorOf(['DEVICE#active-04', 'DEVICE'])],
      ['a key with a number', cursorOf({ ...activeKey, sk: 7 })],
      ['a key with an extra field', cursorOf({ ...activeKey, version: '1' })],
      ['a key missing the index keys', cursorOf({ pk: activeKey.pk, sk: activeKey.sk })],
      ['a key of another status', cursorOf({ ...activeKey, status: 'PENDING' })],
      ['a key whose partition key names another serial', cursorOf({ ...activeKey, pk: 'DEVICE#active-09' })],
      ['a key of an event', cursorOf({ pk: 'DEVICE#active-04', sk: 'EVENT#2025-03-01T00:00:00.000Z#00000000' })],
      ['far too long', 'A'.repeat(4096)],
    ])('%s', async (_case, cursor) => {
      const listing = store.listByStatus('ACTIVE', 5, cursor);

      await expect(listing).rejects.toBeInstanceOf(CvmError);
      await expect(listing).rejects.toMatchObject({
        errorType: 'InvalidInput',
        message: 'The nextToken is not valid for this query.',
      });
    });

    it('from another status listing', async () => {
      const { cursor } = await store.listByStatus('ACTIVE', 5);

      await expect(store.listByStatus('PENDING', 5, cursor)).rejects.toMatchObject({ errorType: 'InvalidInput' });
    });

    it('from an event listing', async () => {
      const { cursor } = await store.listByStatus('ACTIVE', 5);

      await expect(store.listEvents('active-00', 5, cursor)).rejects.toMatchObject({ errorType: 'InvalidInput' });
    });
  });
});

describe('DynamoDbDeviceStore.listRotations on dynalite', () => {
  let table: TestTable;
  let store: DynamoDbDeviceStore;

  beforeAll(async () => {
    table = await startTestTable();
    store = table.store;
    for (let day = 9; day >= 1; day -= 1) {
      await store.create(rotatingDevice(`rotating-${day}`, `2025-02-0${day}T00:00:00.000Z`));
    }
    await store.create(retiringDevice('retiring-1', '2025-02-03T00:00:00.000Z'));
    await store.create(device('active-plain', { status: 'ACTIVE' }));
  });
  afterAll(() => table.close());

  it('lists the devices rotating, soonest deadline first, page by page, and no other', async () => {
    const { items, pages } = await readAllPages((cursor) =>
      store.listRotations('ROTATION', cursor === undefined ? { limit: 4 } : { limit: 4, cursor }),
    );
    expect(items.map((item) => item.serialNumber)).toEqual(Array.from({ length: 9 }, (_, i) => `rotating-${i + 1}`));
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(items[0]).toStrictEqual(rotatingDevice('rotating-1', '2025-02-01T00:00:00.000Z'));
  });

  it('lists only what is due by a time, and retirements apart', async () => {
    const due = await store.listRotations('ROTATION', { limit: 100, dueBy: '2025-02-03T00:00:00.000Z' });
    expect(due.items.map((item) => item.serialNumber)).toEqual(['rotating-1', 'rotating-2', 'rotating-3']);
    const retiring = await store.listRotations('RETIRING', { limit: 100, dueBy: '2025-03-01T00:00:00.000Z' });
    expect(retiring.items.map((item) => item.serialNumber)).toEqual(['retiring-1']);
  });

  it('drops a device from the index once its rotation ends', async () => {
    const { rotation: _ended, ...settled } = rotatingDevice('rotating-9', '2025-02-09T00:00:00.000Z');
    expect(await store.replace({ ...settled, version: 10 }, 9)).toBe('won');
    const { items } = await store.listRotations('ROTATION', { limit: 100 });
    expect(items.map((item) => item.serialNumber)).not.toContain('rotating-9');
  });

  it('refuses a cursor of another listing', async () => {
    const { cursor } = await store.listRotations('ROTATION', { limit: 2 });
    if (cursor === undefined) throw new Error('expected a second page');
    await expect(store.listRotations('RETIRING', { limit: 2, cursor })).rejects.toMatchObject({
      errorType: 'InvalidInput',
    });
    const statusPage = await store.listByStatus('ACTIVE', 2);
    await expect(store.listRotations('ROTATION', { limit: 2, cursor: statusPage.cursor ?? '' })).rejects.toMatchObject({
      errorType: 'InvalidInput',
    });
  });
});

describe('DynamoDbDeviceStore error translation', () => {
  const tableName = 'cvm-mocked';
  let dynamodb: AwsClientStub<DynamoDBClient>;
  let store: DynamoDbDeviceStore;

  // The one place DynamoDB is faked, because dynalite never throttles. The stub replaces send() on every
  // DynamoDB client, so it exists only while these tests run.
  beforeAll(() => {
    dynamodb = mockClient(DynamoDBClient);
  });
  beforeEach(() => {
    store = new DynamoDbDeviceStore({
      client: new DynamoDBClient({ region: 'us-east-1', ...DYNAMODB_CLIENT_DEFAULTS }),
      tableName,
      sleep: async () => {},
    });
  });
  afterEach(() => dynamodb.reset());
  afterAll(() => dynamodb.restore());

  const awsError = (name: string) => Object.assign(new Error(`${name} from DynamoDB`), { name });

  it.each([
    ['ProvisionedThroughputExceededException', ThrottledError],
    ['ThrottlingException', ThrottledError],
    ['RequestLimitExceeded', ThrottledError],
    ['ConditionalCheckFailedException', ConditionFailedError],
  ])('turns %s into %o, keeping the cause', async (name, expected) => {
    const original = awsError(name);
    dynamodb.on(PutItemCommand).rejects(original);

    const creating = store.create(device('mocked'));

    await expect(creating).rejects.toBeInstanceOf(expected);
    await expect(creating).rejects.toMatchObject({ cause: original });
  });

  // dynalite is always consistent, so only the request itself can show that DynamoDB is asked to be.
  it('reads the audit trail with a strongly consistent query, so an event written just now is listed', async () => {
    dynamodb.on(QueryCommand).resolves({ Items: [] });

    await store.listEvents('mocked', 5);

    expect(dynamodb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({ ConsistentRead: true });
  });

  it('passes any other error through unchanged', async () => {
    const original = awsError('ResourceNotFoundException');
    dynamodb.on(PutItemCommand).rejects(original);

    await expect(store.create(device('mocked'))).rejects.toBe(original);
  });

  it('retries keys a batch read left unprocessed', async () => {
    const key = { pk: 'DEVICE#mocked', sk: 'DEVICE' };
    dynamodb
      .on(BatchGetItemCommand)
      .resolvesOnce({ Responses: { [tableName]: [] }, UnprocessedKeys: { [tableName]: { Keys: [marshall(key)] } } })
      .resolves({
        Responses: { [tableName]: [marshall({ ...key, ...device('mocked') }, { removeUndefinedValues: true })] },
      });

    expect(await store.getMany(['mocked'])).toStrictEqual([device('mocked')]);
    expect(dynamodb.commandCalls(BatchGetItemCommand)).toHaveLength(2);
  });

  it('retries items a batch write left unprocessed, and reports throttling when they stay so', async () => {
    const stored = event('mocked', '2025-02-05T00:00:00.000Z');
    const leftOver = (input: unknown) => ({
      UnprocessedItems: (input as { RequestItems: Record<string, unknown> }).RequestItems,
    });
    dynamodb.on(BatchWriteItemCommand).callsFakeOnce(leftOver).resolves({});

    await store.appendEvents([stored]);
    expect(dynamodb.commandCalls(BatchWriteItemCommand)).toHaveLength(2);

    dynamodb.reset();
    dynamodb.on(BatchWriteItemCommand).callsFake(leftOver);
    await expect(store.appendEvents([stored])).rejects.toBeInstanceOf(ThrottledError);
    expect(dynamodb.commandCalls(BatchWriteItemCommand)).toHaveLength(5);
  });

  it('reports throttling when a batch read keeps leaving keys unprocessed', async () => {
    const key = { pk: 'DEVICE#mocked', sk: 'DEVICE' };
    dynamodb
      .on(BatchGetItemCommand)
      .resolves({ Responses: { [tableName]: [] }, UnprocessedKeys: { [tableName]: { Keys: [marshall(key)] } } });

    await expect(store.getMany(['mocked'])).rejects.toBeInstanceOf(ThrottledError);
    expect(dynamodb.commandCalls(BatchGetItemCommand)).toHaveLength(5);
  });
});
