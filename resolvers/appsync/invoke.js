/**
 * APPSYNC_JS resolver on the Lambda data source, the same code for every Query and Mutation field.
 *
 * It hands the Lambda only what it needs (never the request headers: they carry the API key) and turns the
 * Lambda's envelope (contract/lambda-envelope.ts) back into a field value or a GraphQL error with its errorType.
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
  // The invocation itself failed (Lambda crash, timeout, throttle). Clients get one of cvm's error types, so
  // that they know to retry; AppSync's own type goes into errorInfo, and the Lambda's message (which could
  // carry internals) stays in the logs.
  if (ctx.error) {
    // APPSYNC_JS has no regular expressions (AppSync refuses the code), so plain string checks.
    const type = ctx.error.type || '';
    const throttled = type.includes('TooManyRequests') || type.includes('Throttl');
    return util.error(
      throttled
        ? 'AWS is throttling requests right now; retry in a few seconds.'
        : 'cvm could not complete the request; it is safe to retry.',
      throttled ? 'Throttled' : 'InternalError',
      null,
      { cause: type },
    );
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
