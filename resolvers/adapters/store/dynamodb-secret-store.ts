/**
 * The SecretStore on the one DynamoDB table (item `SECRET#<name>` / `SECRET`, layout: contract/table-layout.ts).
 * The first writer of a name wins with a conditional put; everyone after reads its value.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConditionFailedError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports.ts';
import { PARTITION_KEY, SORT_KEY } from '../../../contract/table-layout.ts';
import { ItemCalls } from './item-calls.ts';

export interface DynamoDbSecretStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

const SECRET_SORT_KEY = 'SECRET';
const secretPartitionKey = (name: string): string => `SECRET#${name}`;

export class DynamoDbSecretStore implements SecretStore {
  private readonly items: ItemCalls;

  constructor(options: DynamoDbSecretStoreOptions) {
    this.items = new ItemCalls(options.client, options.tableName);
  }

  async getOrCreate(name: string, fresh: Uint8Array): Promise<Uint8Array> {
    const key = { [PARTITION_KEY]: secretPartitionKey(name), [SORT_KEY]: SECRET_SORT_KEY };
    try {
      await this.items.putNew({ ...key, value: fresh });
      return fresh;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
    const item = await this.items.get({ Key: key, ConsistentRead: true });
    const stored: unknown = item?.['value'];
    if (!(stored instanceof Uint8Array)) {
      throw new Error(`The stored secret ${name} is missing or not binary.`);
    }
    return stored;
  }
}
