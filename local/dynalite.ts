/**
 * dynalite: a DynamoDB that runs beside cvm, for the local stack and the integration tests.
 * It speaks the real DynamoDB wire protocol, so the same DynamoDbDeviceStore runs against it unchanged.
 *
 * It runs in a worker thread of this process (dynalite-worker.js), the way DynamoDB runs apart from the Lambda: its
 * request handling was the largest share of the local stack's event loop, which also serves the AppSync twin and
 * the resolver. The data is where it was (LevelDB at `path`, or memory), and the port is still loopback only.
 * The client it returns reaches the thread by message instead of that port (dynalite-port-handler.ts): the SDK
 * still builds, signs and parses every call, but neither side pays for a socket and an HTTP exchange.
 */
import { Worker } from 'node:worker_threads';
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
import { DYNAMODB_CLIENT_DEFAULTS } from '../resolvers/adapters/store/item-calls.ts';
import { DynalitePortHandler, type PortResponse } from './dynalite-port-handler.ts';

/** What dynalite-worker.js posts. */
type WorkerMessage =
  | { readonly kind: 'listening'; readonly port: number }
  | { readonly kind: 'failed'; readonly message: string; readonly code?: string }
  | { readonly kind: 'closed'; readonly message?: string }
  | PortResponse;

const WORKER_FILE = new URL('./dynalite-worker.js', import.meta.url);

/** How the table waiters poll dynalite, which makes a table ACTIVE (or gone) on its next turn: every second or two. */
const TABLE_WAIT = { minDelay: 1, maxDelay: 2, maxWaitTime: 60 } as const;

export interface StartDynaliteOptions {
  /** Directory of the LevelDB store. Default: none, the data lives in memory and dies with the server. */
  path?: string;
  /** Default: 127.0.0.1, so that nothing beyond this machine can reach it. */
  host?: string;
  /** Default: 0, a free port chosen by the system. */
  port?: number;
}

export interface RunningDynalite {
  /** `http://host:port`, for a DynamoDB client of its own (another process, the Lambda entry in tests). */
  readonly endpoint: string;
  /** A client whose requests reach dynalite's thread without a socket (dynalite-port-handler.ts). */
  readonly client: DynamoDBClient;
  /** Destroys the client and stops the server; the process can exit afterwards. */
  close(): Promise<void>;
}

export async function startDynalite(options: StartDynaliteOptions = {}): Promise<RunningDynalite> {
  const host = options.host ?? '127.0.0.1';
  // The worker is plain JavaScript: it needs none of this process's loaders (tsx) or flags.
  const worker = new Worker(WORKER_FILE, {
    workerData: { path: options.path, host, port: options.port ?? 0 },
    execArgv: [],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const exited = (code: number) => reject(new Error(`dynalite's thread ended (exit code ${code}) before listening.`));
    worker.once('error', reject);
    worker.once('exit', exited);
    worker.once('message', (message: WorkerMessage) => {
      worker.off('error', reject);
      worker.off('exit', exited);
      if (message.kind === 'listening') resolve(message.port);
      else reject(new Error(`dynalite could not start: ${message.kind === 'failed' ? message.message : message.kind}`));
    });
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });

  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const requestHandler = new DynalitePortHandler(worker);
  worker.on('message', (message: WorkerMessage) => {
    if (message.kind === 'response') requestHandler.answer(message);
  });
  worker.on('error', (error) => requestHandler.fail(new Error(`dynalite's thread failed: ${error.message}`)));
  worker.on('exit', (code) => requestHandler.fail(new Error(`dynalite's thread has ended (exit code ${code}).`)));
  const client = new DynamoDBClient({
    ...DYNAMODB_CLIENT_DEFAULTS,
    endpoint,
    region: 'us-east-1',
    // dynalite checks that requests are signed, not what with.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler,
  });

  let closing: Promise<void> | undefined;
  return {
    endpoint,
    client,
    close() {
      closing ??= closeWorker(worker, client);
      return closing;
    },
  };
}

async function closeWorker(worker: Worker, client: DynamoDBClient): Promise<void> {
  client.destroy();
  // The requests posted before 'close' are answered first: the thread takes its messages in order, and dynalite
  // closes its store only after the operations under way.
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const closed = new Promise<WorkerMessage>((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      if (message.kind === 'response') return;
      worker.off('message', onMessage);
      resolve(message);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`dynalite's thread ended (exit code ${code}) while closing.`)));
  });
  worker.postMessage('close');
  const answer = await closed;
  // The thread ends by itself once the server and its store are closed.
  await exited;
  if (answer.kind === 'closed' && answer.message !== undefined) {
    throw new Error(`dynalite did not close cleanly: ${answer.message}`);
  }
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
  await waitUntilTableExists({ client, ...TABLE_WAIT }, { TableName: tableName });
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
    // A table takes writes only once ACTIVE, as in DynamoDB (dynalite makes it so on its next turn).
    await waitUntilTableExists({ client, ...TABLE_WAIT }, { TableName: side });
    await copyItems(client, tableName, side);
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    await waitUntilTableNotExists({ client, ...TABLE_WAIT }, { TableName: tableName });
  }
  if ((await describeTable(client, tableName)) === undefined) {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    await waitUntilTableExists({ client, ...TABLE_WAIT }, { TableName: tableName });
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
