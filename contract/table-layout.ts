/**
 * The one DynamoDB table's layout, shared by the store adapter, the local stack (which creates it in
 * dynalite) and the CDK construct (which creates it in AWS), so that the three cannot drift apart.
 *
 * Items:
 * - device:  pk = `DEVICE#<serial>`, sk = `DEVICE`, with `status` and `serialNumber` (the status index keys)
 * - event:   pk = `DEVICE#<serial>`, sk = `EVENT#<at>#<random>`; no `status` attribute, so not in the index
 * - secret:  pk = `SECRET#<name>`,   sk = `SECRET`
 * - thing:   pk = `THING#<name>`,    sk = `THING`, with `serialNumber`: one device per thing name
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const PARTITION_KEY = 'pk';
export const SORT_KEY = 'sk';

/** Sparse global secondary index over device items only: all devices of one status, by serial. */
export const STATUS_INDEX = {
  name: 'byStatus',
  partitionKey: 'status',
  sortKey: 'serialNumber',
} as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PARTITION_KEY, AttributeType: 'S' },
      { AttributeName: SORT_KEY, AttributeType: 'S' },
      { AttributeName: STATUS_INDEX.partitionKey, AttributeType: 'S' },
      { AttributeName: STATUS_INDEX.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: STATUS_INDEX.name,
        KeySchema: [
          { AttributeName: STATUS_INDEX.partitionKey, KeyType: 'HASH' },
          { AttributeName: STATUS_INDEX.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}
