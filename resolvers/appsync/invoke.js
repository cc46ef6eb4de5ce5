/**
 * APPSYNC_JS resolver on the Lambda data source, the same code for every Query and Mutation field.
 *
 * It hands the Lambda only what it needs (never the request headers: they carry the API key) and turns the
 * Lambda's envelope (resolvers/envelope.ts) back into a field value or a GraphQL error with its errorType.
 * `@aws-appsync/utils` is provided by the AppSync runtime; this file is uploaded as is, not bundled.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return {
    operation: 'Invoke',
    payload: {
      parentTypeName: ctx.info.parentTypeName,
      fieldName: ctx.info.fieldName,
      arguments: ctx.arguments,
      identity: ctx.identity,
    },
  };
}

export function response(ctx) {
  // The invocation itself failed (Lambda error, timeout, throttle): AppSync's own error type says which.
  if (ctx.error) {
    return util.error(ctx.error.message, ctx.error.type);
  }
  const envelope = ctx.result;
  if (!envelope) {
    return util.error('The resolver returned no result', 'InternalError');
  }
  if (envelope.error) {
    return util.error(envelope.error.message, envelope.error.errorType);
  }
  return envelope.data;
}
