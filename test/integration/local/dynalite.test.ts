import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PARTITION_KEY, SORT_KEY } from '../../../contract/table-layout.ts';
import { ensureTable, startDynalite } from '../../../local/dynalite.ts';

const TABLE = 'cvm-dynalite-test';
const KEY = { [PARTITION_KEY]: { S: 'DEVICE#SN-1' }, [SORT_KEY]: { S: 'DEVICE' } };

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-dynalite-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('startDynalite', () => {
  it('keeps what it stored on disk across a stop and a start on the same directory', async () => {
    const first = await startDynalite({ path: directory });
    try {
      await ensureTable(first.client, TABLE);
      await first.client.send(new PutItemCommand({ TableName: TABLE, Item: { ...KEY, note: { S: 'kept' } } }));
    } finally {
      await first.close();
    }

    // The store of the first one was closed with it: LevelDB lets the second one open the directory.
    const second = await startDynalite({ path: directory });
    try {
      const { Item } = await second.client.send(new GetItemCommand({ TableName: TABLE, Key: KEY }));
      expect(Item?.note).toEqual({ S: 'kept' });
    } finally {
      await second.close();
    }
  });

  it('fails to start on a port that is taken, and can be started again elsewhere', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    try {
      await expect(startDynalite({ path: directory, port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }

    const started = await startDynalite({ path: directory });
    await started.close();
  });

  it("answers its own client without a socket, with DynamoDB's typed errors, and still serves its port", async () => {
    const started = await startDynalite({ path: directory });
    const overHttp = new DynamoDBClient({
      endpoint: started.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await ensureTable(started.client, TABLE);
      await started.client.send(new PutItemCommand({ TableName: TABLE, Item: { ...KEY, note: { S: 'first' } } }));
      const refused = started.client.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { ...KEY, note: { S: 'second' } },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      );
      await expect(refused).rejects.toBeInstanceOf(ConditionalCheckFailedException);
      await expect(
        started.client.send(new GetItemCommand({ TableName: 'no-such-table', Key: KEY })),
      ).rejects.toBeInstanceOf(ResourceNotFoundException);

      // Another client, over loopback HTTP, sees the same table.
      const { Item } = await overHttp.send(new GetItemCommand({ TableName: TABLE, Key: KEY }));
      expect(Item?.note).toEqual({ S: 'first' });
    } finally {
      overHttp.destroy();
      await started.close();
    }
  });

  it('lets the requests in flight finish before it stops, and refuses the ones after', async () => {
    const started = await startDynalite({ path: directory });
    await ensureTable(started.client, TABLE);
    // Counts the requests the SDK has handed to the transport (the last step before it).
    let handedOver = 0;
    let allHandedOver = () => undefined as void;
    const handedOverAll = new Promise<void>((resolve) => (allHandedOver = resolve));
    started.client.middlewareStack.add(
      (next) => (args) => {
        handedOver += 1;
        if (handedOver === 20) allHandedOver();
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low' },
    );
    const writes = Array.from({ length: 20 }, (_, index) =>
      started.client.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { [PARTITION_KEY]: { S: `DEVICE#SN-${index}` }, [SORT_KEY]: { S: 'DEVICE' } },
        }),
      ),
    );
    await handedOverAll;
    const closed = started.close();
    await expect(Promise.all(writes)).resolves.toHaveLength(20);
    await closed;
    await expect(started.client.send(new GetItemCommand({ TableName: TABLE, Key: KEY }))).rejects.toThrow(
      /dynalite's thread has ended/,
    );

    const again = await startDynalite({ path: directory });
    try {
      const { Item } = await again.client.send(
        new GetItemCommand({
          TableName: TABLE,
          Key: { [PARTITION_KEY]: { S: 'DEVICE#SN-19' }, [SORT_KEY]: { S: 'DEVICE' } },
        }),
      );
      expect(Item).toBeDefined();
    } finally {
      await again.close();
    }
  });
});
