import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
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
});
