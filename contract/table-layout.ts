/**
 * The one DynamoDB table's layout, shared by the store adapter, the local stack (which creates it in
 * dynalite) and the CDK construct (which creates it in AWS), so that the three cannot drift apart.
 *
 * Items:
 * - device:  pk = `DEVICE#<serial>`, sk = `DEVICE`, with `status` and `serialNumber` (the status index keys),
 *            and, only while it has rotation work, `rotationWork` and `rotationDue` (the rotation index keys)
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

/**
 * Sparse global secondary index over devices with rotation work only: `rotationWork` is ROTATION (a rotation under
 * way) or RETIRING (certificates still to revoke), `rotationDue` the ISO-8601 time it is due. The sweep asks it for
 * what is due; the admin asks it for rotations pending.
 */
export const ROTATION_INDEX = {
  name: 'byRotation',
  partitionKey: 'rotationWork',
  sortKey: 'rotationDue',
} as const;

const INDEXES = [STATUS_INDEX, ROTATION_INDEX] as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PARTITION_KEY, AttributeType: 'S' },
      { AttributeName: SORT_KEY, AttributeType: 'S' },
      ...INDEXES.flatMap((index) => [
        { AttributeName: index.partitionKey, AttributeType: 'S' as const },
        { AttributeName: index.sortKey, AttributeType: 'S' as const },
      ]),
    ],
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: INDEXES.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'ALL' as const },
    })),
  };
}
