/**
 * A fresh in-memory dynalite with a fresh cvm table, for integration tests:
 *
 *   let table: TestTable;
 *   beforeAll(async () => { table = await startTestTable(); });
 *   afterAll(() => table.close());
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTable, startDynalite } from '../../local/dynalite.ts';
import { DynamoDbSecretStore } from '../../resolvers/adapters/store/dynamodb-secret-store.ts';
import { DynamoDbDeviceStore } from '../../resolvers/adapters/store/dynamodb-store.ts';

export interface TestTable {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** A store on the table; build more with `new DynamoDbDeviceStore({ client, tableName })`. */
  readonly store: DynamoDbDeviceStore;
  /** The secret store on the same table. */
  readonly secrets: DynamoDbSecretStore;
  /** Stops dynalite; its data is gone. */
  close(): Promise<void>;
}

export async function startTestTable(): Promise<TestTable> {
  const dynalite = await startDynalite();
  const tableName = `cvm-test-${randomBytes(4).toString('hex')}`;
  try {
    await ensureTable(dynalite.client, tableName);
  } catch (error) {
    await dynalite.close();
    throw error;
  }
  return {
    endpoint: dynalite.endpoint,
    client: dynalite.client,
    tableName,
    store: new DynamoDbDeviceStore({ client: dynalite.client, tableName }),
    secrets: new DynamoDbSecretStore({ client: dynalite.client, tableName }),
    close: () => dynalite.close(),
  };
}
