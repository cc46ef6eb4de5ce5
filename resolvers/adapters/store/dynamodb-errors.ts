/** DynamoDB's errors in the core's terms, for every store on the table. */
import { ConditionFailedError, ThrottledError } from '../../core/errors.ts';

const THROTTLING_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

/** A lost condition becomes ConditionFailedError, throttling ThrottledError; anything else passes unchanged. */
export function translateDynamoDbError(error: unknown): unknown {
  const name = error instanceof Error ? error.name : undefined;
  if (name === 'ConditionalCheckFailedException') {
    return new ConditionFailedError('The item changed since it was read (a conditional write lost).', {
      cause: error,
    });
  }
  if (name !== undefined && THROTTLING_ERROR_NAMES.has(name)) {
    return new ThrottledError(`DynamoDB throttled the request (${name}).`, { cause: error });
  }
  return error;
}

/** Run one DynamoDB request with its errors translated. */
export async function sendTranslated<Output>(request: () => Promise<Output>): Promise<Output> {
  try {
    return await request();
  } catch (error) {
    throw translateDynamoDbError(error);
  }
}
