/**
 * How AppSync runs cvm's resolvers, shared by the CDK construct (which deploys them) and the local twin (which
 * runs the same): the APPSYNC_JS file of every root field, and the Lambda function's timeout.
 */
import { fileURLToPath } from 'node:url';

/** The APPSYNC_JS unit resolver on the Lambda data source, uploaded as is. */
export const RESOLVER_CODE_FILE = fileURLToPath(new URL('../resolvers/appsync/invoke.js', import.meta.url));

/** The Lambda function's timeout; the twin fails an invocation that runs longer, as Lambda would. */
export const LAMBDA_TIMEOUT_SECONDS = 25;
