/**
 * dynalite: a DynamoDB that runs in this process, for the local stack and the integration tests.
 * It speaks the real DynamoDB wire protocol, so the same DynamoDbDeviceStore runs against it unchanged.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  BatchWriteItemCommand,
  DeleteTableCommand,
  ResourceNotFoundException,
  ScanCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
  type AttributeValue,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { createTableInput } from '../contract/table-layout.ts';

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}

// dynalite is CommonJS without type declarations; loading it through require keeps the one cast here.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => Server;

export interface StartDynaliteOptions {
  /** Directory of the LevelDB store. Default: none, the data lives in memory and dies with the server. */
  path?: string;
  /** Default: 127.0.0.1, so that nothing beyond this machine can reach it. */
  host?: string;
  /** Default: 0, a free port chosen by the system. */
  port?: number;
}

export interface RunningDynalite {
  /** `http://host:port`, for a DynamoDB client's `endpoint`. */
  readonly endpoint: string;
  /** A client already pointed at the endpoint. */
  readonly client: DynamoDBClient;
  /** Destroys the client and stops the server; the process can exit afterwards. */
  close(): Promise<void>;
}

export async function startDynalite(options: StartDynaliteOptions = {}): Promise<RunningDynalite> {
  const host = options.host ?? '127.0.0.1';
  // Tables become ACTIVE at once instead of after dynalite's default half second.
  const server = dynalite({
    ...(options.path === undefined ? {} : { path: options.path }),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    // dynalite checks that requests are signed, not what with.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  let closing: Promise<void> | undefined;
  return {
    endpoint,
    client,
    close() {
      closing ??= closeServer(server, client);
      return closing;
    },
  };
}

async function closeServer(server: Server, client: DynamoDBClient): Promise<void> {
  client.destroy();
  await new Promise<void>((resolve, reject) => {
    server.close((error?: Error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets of other clients (the local stack's own) would otherwise hold close() open.
    server.closeAllConnections();
  });
}

/**
 * Create the cvm table if it does not exist yet, and wait until it is ACTIVE.
 * dynalite accepts the table exactly as AWS gets it (PAY_PER_REQUEST with global secondary indexes),
 * so the shared createTableInput is used as is. A table made by an earlier version, without an index added since,
 * is migrated to the current layout first.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await migrateToCurrentLayout(client, tableName);
  if ((await describeTable(client, tableName)) === undefined) {
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (error) {
      // Someone else created it between our look and our create: that is what we wanted.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }
  await waitUntilTableExists({ client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 }, { TableName: tableName });
}

/**
 * dynalite cannot add an index to an existing table (it ignores UpdateTable's Create), so a data dir made before an
 * index was added (the rotation index) is migrated by copying: every item into a side table of the current layout,
 * the old table dropped and made again, every item back, the side table dropped. Each step can be repeated, and at
 * every moment one of the two tables holds every item, so a crash part-way is finished by the next start.
 */
async function migrateToCurrentLayout(client: DynamoDBClient, tableName: string): Promise<void> {
  const side = `${tableName}-migrating`;
  const wanted = new Set((createTableInput(tableName).GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const table = await describeTable(client, tableName);
  const current = table !== undefined && [...wanted].every((name) => hasIndex(table, name));
  const sideTable = await describeTable(client, side);
  // Nothing to migrate: a table of the current layout, or none at all (ensureTable creates it).
  if (sideTable === undefined && (current || table === undefined)) return;

  if (table !== undefined && !current) {
    process.stderr.write(`cvm: migrating the local table ${tableName} to the current layout (new indexes)\n`);
    if (sideTable === undefined) await client.send(new CreateTableCommand(createTableInput(side)));
    await copyItems(client, tableName, side);
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    await waitUntilTableNotExists({ client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 }, { TableName: tableName });
  }
  if ((await describeTable(client, tableName)) === undefined) {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    await waitUntilTableExists({ client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 }, { TableName: tableName });
  }
  await copyItems(client, side, tableName);
  await client.send(new DeleteTableCommand({ TableName: side }));
}

function hasIndex(table: TableDescription, indexName: string | undefined): boolean {
  return (table.GlobalSecondaryIndexes ?? []).some((index) => index.IndexName === indexName);
}

/** Copy every item of one table into another, as stored (puts, so repeating a copy is harmless). */
async function copyItems(client: DynamoDBClient, from: string, to: string): Promise<void> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: from, ConsistentRead: true, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
    );
    const items = page.Items ?? [];
    for (let start = 0; start < items.length; start += 25) {
      let requests = items.slice(start, start + 25).map((item) => ({ PutRequest: { Item: item } }));
      while (requests.length > 0) {
        const { UnprocessedItems: unprocessed } = await client.send(
          new BatchWriteItemCommand({ RequestItems: { [to]: requests } }),
        );
        requests = (unprocessed?.[to] ?? []).flatMap((request) =>
          request.PutRequest?.Item === undefined ? [] : [{ PutRequest: { Item: request.PutRequest.Item } }],
        );
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}

async function describeTable(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
