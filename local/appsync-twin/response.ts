/**
 * The response bodies AppSync sends, built from graphql-js results.
 *
 * Shapes this follows (all observed AppSync answers, quoted in public issues and AWS pages):
 * - A field error raised by a resolver (`util.error(message, errorType)`, a Lambda failure, an unauthorized
 *   field): `{ path, data: null, errorType, errorInfo: null, locations: [{ line, column, sourceName: null }],
 *   message }`, next to `data` holding whatever resolved (aws/aws-appsync-community#209, the AppSync guide's
 *   "Troubleshooting and common mistakes").
 * - A query that does not validate: HTTP 200, `{ data: null, errors: [{ path: null, locations, message }] }`
 *   with a message starting "Validation error" and no errorType (AppSync team's description of AppSync's HTTP
 *   behaviour, graphql/graphql-over-http#81).
 * - A request AppSync rejects before GraphQL (malformed body, authentication):
 *   `{ errors: [{ errorType, message }] }` with a 4xx status (same sources, and the AWS knowledge center on
 *   401 UnauthorizedException answers).
 */
import type { ExecutionResult, GraphQLError } from 'graphql';

/** A field failure with an AppSync errorType, as `util.error(message, errorType, data, errorInfo)` raises it. */
export class ResolverFieldError extends Error {
  override readonly name = 'ResolverFieldError';
  readonly data: unknown;
  readonly errorInfo: unknown;

  constructor(
    readonly errorType: string,
    message: string,
    options: { cause?: unknown; data?: unknown; errorInfo?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.data = options.data ?? null;
    this.errorInfo = options.errorInfo ?? null;
  }
}

export interface AppSyncLocation {
  readonly line: number;
  readonly column: number;
  readonly sourceName: null;
}

/** An error a resolver raised for one field. */
export interface AppSyncFieldError {
  readonly path: readonly (string | number)[] | null;
  readonly data: unknown;
  readonly errorType: string;
  readonly errorInfo: unknown;
  readonly locations: readonly AppSyncLocation[] | null;
  readonly message: string;
}

/** An error graphql itself found (syntax, validation, variables, a null in a non-null field). */
export interface AppSyncGraphQLError {
  readonly path: readonly (string | number)[] | null;
  readonly locations: readonly AppSyncLocation[] | null;
  readonly message: string;
}

/** An error of the HTTP layer, before any GraphQL ran. */
export interface AppSyncRequestError {
  readonly errorType: string;
  readonly message: string;
}

export interface AppSyncResponseBody {
  readonly data?: unknown;
  readonly errors?: readonly (AppSyncFieldError | AppSyncGraphQLError | AppSyncRequestError)[];
}

function locationsOf(error: GraphQLError): AppSyncLocation[] | null {
  if (error.locations === undefined) return null;
  return error.locations.map(({ line, column }) => ({ line, column, sourceName: null }));
}

/** One error of an executed operation, in AppSync's shape. */
export function formatGraphQLError(error: GraphQLError): AppSyncFieldError | AppSyncGraphQLError {
  const path = error.path ?? null;
  const locations = locationsOf(error);
  if (error.originalError instanceof ResolverFieldError) {
    const { errorType, message, data, errorInfo } = error.originalError;
    return { path, data, errorType, errorInfo, locations, message };
  }
  return { path, locations, message: error.message };
}

/**
 * The body of an operation that ran: data (possibly partial), the field errors, and the errors resolver code
 * appended with `util.appendError` (which leave the field's value in place).
 */
export function executionResponse(
  result: ExecutionResult,
  appendedErrors: readonly AppSyncFieldError[] = [],
): AppSyncResponseBody {
  const errors = [...(result.errors ?? []).map(formatGraphQLError), ...appendedErrors];
  if (errors.length === 0) return { data: result.data ?? null };
  return { data: result.data ?? null, errors };
}

/**
 * The body of an operation that never ran: a syntax error, a validation error, or variables that do not fit.
 * graphql-js words validation messages differently from AppSync's graphql-java; the prefix keeps them
 * recognisable as the same kind of failure.
 */
export function rejectedOperationResponse(
  errors: readonly GraphQLError[],
  kind: 'syntax' | 'validation',
): AppSyncResponseBody {
  return {
    data: null,
    errors: errors.map((error) => ({
      path: null,
      locations: locationsOf(error),
      message: kind === 'validation' ? `Validation error: ${withoutVariableValue(error.message)}` : error.message,
    })),
  };
}

/**
 * graphql-js quotes the whole variable value when it does not fit ('Variable "$input" got invalid value
 * { …, registrationToken: "…" }; Field "csr" … was not provided.'), which would put a device's token into the
 * answer and from there into client logs. Keep the variable's name and the reason, drop the value.
 */
export function withoutVariableValue(message: string): string {
  const match = /^(Variable "\$[^"]+" got invalid value) [\s\S]*; ([^;]*)$/.exec(message);
  return match ? `${match[1]}; ${match[2]}` : message;
}

/** The body of a request refused at the HTTP layer. */
export function requestErrorResponse(errorType: string, message: string): AppSyncResponseBody {
  return { errors: [{ errorType, message }] };
}
