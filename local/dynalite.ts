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
  ResourceNotFoundException,
  UpdateTableCommand,
  waitUntilTableExists,
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
 * dynalite accepts the table exactly as AWS gets it (PAY_PER_REQUEST with a global secondary index),
 * so the shared createTableInput is used as is.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const existing = await describeTable(client, tableName);
  if (existing === undefined) {
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (error) {
      // Someone else created it between our look and our create: that is what we wanted.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  } else {
    await addMissingIndexes(client, tableName, existing);
  }
  await waitUntilTableExists({ client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 }, { TableName: tableName });
}

/**
 * A data dir made by an earlier version has the table without the indexes added since (the rotation index):
 * add them, as one would with UpdateTable in AWS, and wait until they are ACTIVE (dynalite backfills them).
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string, table: TableDescription): Promise<void> {
  const wanted = createTableInput(tableName);
  const present = new Set((table.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of wanted.GlobalSecondaryIndexes ?? []) {
    if (present.has(index.IndexName)) continue;
    const keyNames = new Set((index.KeySchema ?? []).map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: (wanted.AttributeDefinitions ?? []).filter((definition) =>
          keyNames.has(definition.AttributeName),
        ),
        GlobalSecondaryIndexUpdates: [{ Create: { ...index } }],
      }),
    );
    for (;;) {
      const described = await describeTable(client, tableName);
      const status = described?.GlobalSecondaryIndexes?.find((gsi) => gsi.IndexName === index.IndexName)?.IndexStatus;
      if (status === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function describeTable(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
