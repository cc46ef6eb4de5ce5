/**
 * The DynamoDB calls the stores make on their table, on plain JavaScript items: each one marshals its input with
 * `@aws-sdk/util-dynamodb`, sends the low-level command on the client it was given, and unmarshals the answer.
 * Every call's errors come out in the core's terms (dynamodb-errors.ts): a lost condition as ConditionFailedError,
 * throttling as ThrottledError.
 *
 * This is what `@aws-sdk/lib-dynamodb`'s document client does, minus its wrapper commands. Those rebuild and re-sort
 * the SDK's middleware stack on every call, and refuse a client made with `cacheMiddleware: true`. Without them, the
 * client resolves that stack once per command type (see `DYNAMODB_CLIENT_DEFAULTS`). A call then costs about a third
 * less CPU: on the issuing path that is four calls per enrollment, in the Lambda and in the local stack alike.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall, type marshallOptions } from '@aws-sdk/util-dynamodb';
import { PARTITION_KEY } from '../../../contract/table-layout.ts';
import { sendTranslated } from './dynamodb-errors.ts';

/**
 * Settings for every DynamoDB client the stores are given: the middleware stack is resolved once per command type
 * and kept (the client's middleware must then be complete before its first call, which ours always is).
 */
export const DYNAMODB_CLIENT_DEFAULTS = { cacheMiddleware: true } as const satisfies DynamoDBClientConfig;

export type Item = Record<string, unknown>;
type Marshalled = Record<string, AttributeValue>;

/** What the item of a condition or a key may hold: undefined fields are left out, as a Put leaves them out. */
const MARSHALL: marshallOptions = { removeUndefinedValues: true };

interface Expressions {
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
  readonly ExpressionAttributeValues?: Item;
}

export interface GetInput {
  readonly Key: Item;
  readonly ConsistentRead?: boolean;
}

export interface PutInput extends Expressions {
  readonly Item: Item;
}

export interface UpdateInput extends Expressions {
  readonly Key: Item;
  readonly UpdateExpression: string;
  readonly ReturnValues?: 'ALL_NEW';
}

export interface DeleteInput extends Expressions {
  readonly Key: Item;
}

export interface QueryInput {
  readonly IndexName?: string;
  readonly KeyConditionExpression: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
  readonly ExpressionAttributeValues?: Item;
  readonly ScanIndexForward?: boolean;
  readonly ConsistentRead?: boolean;
  readonly Limit?: number;
  readonly ExclusiveStartKey?: Item;
}

export interface QueryOutput {
  readonly Items: Item[];
  readonly LastEvaluatedKey?: Item;
}

/** One BatchGetItem: what it found, and the keys it left unprocessed (to ask again). */
export interface BatchGetOutput {
  readonly items: Item[];
  readonly unprocessedKeys: Item[];
}

export class ItemCalls {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(input: GetInput): Promise<Item | undefined> {
    const { Item: item } = await sendTranslated(() =>
      this.client.send(new GetItemCommand({ ...input, TableName: this.tableName, Key: marshall(input.Key, MARSHALL) })),
    );
    return item === undefined ? undefined : unmarshall(item);
  }

  async put(input: PutInput): Promise<void> {
    await sendTranslated(() =>
      this.client.send(
        new PutItemCommand({ ...withValues(input), TableName: this.tableName, Item: marshall(input.Item, MARSHALL) }),
      ),
    );
  }

  /** Puts `item` only if no item has its key yet; otherwise fails with ConditionFailedError. */
  putNew(item: Item): Promise<void> {
    return this.put({
      Item: item,
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY },
    });
  }

  /** Answers the item as it is after the update when `ReturnValues` is ALL_NEW. */
  async update(input: UpdateInput): Promise<Item | undefined> {
    const { Attributes: attributes } = await sendTranslated(() =>
      this.client.send(
        new UpdateItemCommand({ ...withValues(input), TableName: this.tableName, Key: marshall(input.Key, MARSHALL) }),
      ),
    );
    return attributes === undefined ? undefined : unmarshall(attributes);
  }

  async delete(input: DeleteInput): Promise<void> {
    await sendTranslated(() =>
      this.client.send(
        new DeleteItemCommand({ ...withValues(input), TableName: this.tableName, Key: marshall(input.Key, MARSHALL) }),
      ),
    );
  }

  async query(input: QueryInput): Promise<QueryOutput> {
    const { ExclusiveStartKey: startKey, ...rest } = withValues(input);
    const { Items: items = [], LastEvaluatedKey: lastKey } = await sendTranslated(() =>
      this.client.send(
        new QueryCommand({
          ...rest,
          TableName: this.tableName,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: marshall(startKey, MARSHALL) }),
        }),
      ),
    );
    return {
      Items: items.map((item) => unmarshall(item)),
      ...(lastKey === undefined ? {} : { LastEvaluatedKey: unmarshall(lastKey) }),
    };
  }

  /** Strongly consistent. */
  async batchGet(keys: readonly Item[]): Promise<BatchGetOutput> {
    const { Responses: responses, UnprocessedKeys: unprocessed } = await sendTranslated(() =>
      this.client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [this.tableName]: { Keys: keys.map((key) => marshall(key, MARSHALL)), ConsistentRead: true },
          },
        }),
      ),
    );
    return {
      items: (responses?.[this.tableName] ?? []).map((item) => unmarshall(item)),
      unprocessedKeys: (unprocessed?.[this.tableName]?.Keys ?? []).map((key) => unmarshall(key)),
    };
  }

  /** Puts `items`; answers the items it left unprocessed (to write again). */
  async batchPut(items: readonly Item[]): Promise<Item[]> {
    const { UnprocessedItems: unprocessed } = await sendTranslated(() =>
      this.client.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [this.tableName]: items.map((item) => ({ PutRequest: { Item: marshall(item, MARSHALL) } })),
          },
        }),
      ),
    );
    return (unprocessed?.[this.tableName] ?? []).flatMap(({ PutRequest: put }) =>
      put?.Item === undefined ? [] : [unmarshall(put.Item)],
    );
  }
}

/** The input with its ExpressionAttributeValues marshalled (each value on its own, as DynamoDB takes them). */
function withValues<Input extends { readonly ExpressionAttributeValues?: Item }>(
  input: Input,
): Omit<Input, 'ExpressionAttributeValues'> & { ExpressionAttributeValues?: Marshalled } {
  const { ExpressionAttributeValues: values, ...rest } = input;
  return values === undefined ? rest : { ...rest, ExpressionAttributeValues: marshall(values, MARSHALL) };
}
