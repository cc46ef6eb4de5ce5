/**
 * Runs GraphQL operations the way AppSync runs them for this API: every root field is a Lambda data source
 * with an APPSYNC_JS resolver (so it calls `invoke` with a ResolverEvent and maps the envelope's error to
 * `util.error(message, errorType)`), nested fields read properties of what the root returned, and every field
 * is checked against the caller's authorization mode first.
 */
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  Source,
  defaultFieldResolver,
  execute,
  getOperationAST,
  isObjectType,
  parse,
  validate,
} from 'graphql';
import type { DocumentNode, GraphQLFieldResolver, GraphQLObjectType, GraphQLSchema } from 'graphql';
import type { ResolverEnvelope, ResolverEvent, ResolverIdentity } from '../../contract/lambda-envelope.ts';
import { allowedAuthModes, notAuthorizedMessage } from './field-auth.ts';
import type { AuthMode } from './field-auth.ts';
import { exceededLimit, type RequestLimits } from './limits.ts';
import { loadTwinSchema } from './schema.ts';
import { ResolverFieldError, executionResponse, rejectedOperationResponse } from './response.ts';
import type { AppSyncResponseBody } from './response.ts';

/**
 * What a client sees when the resolver throws instead of answering. AppSync itself calls that `Lambda:Unhandled`
 * (aws/aws-appsync-community#209); cvm's APPSYNC_JS resolver (resolvers/appsync/invoke.js) turns it into
 * InternalError, and the twin answers as the pair does. The thrown error's own text, which may carry internals,
 * stays in the log.
 */
export const UNHANDLED_LAMBDA_ERROR_TYPE = 'InternalError';
export const UNHANDLED_LAMBDA_MESSAGE = 'cvm could not complete the request; it is safe to retry.';

export interface GraphQLRequest {
  readonly query: string;
  readonly variables?: Readonly<Record<string, unknown>> | null;
  readonly operationName?: string | null;
}

/** Who is asking, as the authenticator established it. */
export interface Caller {
  readonly mode: AuthMode;
  /** AppSync's IAM identity for AWS_IAM calls; null for API-key calls. */
  readonly identity: ResolverIdentity | null;
}

export interface OperationOutcome {
  readonly body: AppSyncResponseBody;
  /** `Type.field` of each root field the operation selected, for the request log; empty when it did not parse. */
  readonly rootFields: readonly string[];
}

export interface AppSyncExecutorOptions {
  readonly schemaSdl: string;
  readonly invoke: (event: ResolverEvent) => Promise<ResolverEnvelope>;
  /** The API's default authorization mode. Default: AWS_IAM, as cvm deploys it. */
  readonly defaultMode?: AuthMode;
  /** Told about every `invoke` that threw or answered something that is not an envelope. */
  readonly onResolverFailure?: (field: string, error: unknown) => void;
  /** AppSync's queryDepthLimit and resolverCountLimit, as the deployed API sets them. Default: none. */
  readonly limits?: RequestLimits;
}

export interface AppSyncExecutor {
  readonly schema: GraphQLSchema;
  run(request: GraphQLRequest, caller: Caller): Promise<OperationOutcome>;
}

interface ExecutionContext {
  readonly caller: Caller;
}

const ROOT_OPERATION_TYPES = [OperationTypeNode.QUERY, OperationTypeNode.MUTATION, OperationTypeNode.SUBSCRIPTION];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The envelope's data, or the field error it stands for. */
function unwrapEnvelope(envelope: unknown): unknown {
  if (isRecord(envelope) && isRecord(envelope['error'])) {
    const { errorType, message } = envelope['error'];
    if (typeof errorType === 'string' && typeof message === 'string') throw new ResolverFieldError(errorType, message);
  } else if (isRecord(envelope) && 'data' in envelope) {
    return envelope['data'];
  }
  throw new TypeError('The resolver answered something that is not a ResolverEnvelope');
}

function rootTypeNames(schema: GraphQLSchema): Set<string> {
  const names = new Set<string>();
  for (const operation of ROOT_OPERATION_TYPES) {
    const type = schema.getRootType(operation);
    if (type) names.add(type.name);
  }
  return names;
}

function selectedRootFields(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
): string[] {
  const operation = getOperationAST(document, operationName);
  if (operation === null || operation === undefined) return [];
  const rootType = schema.getRootType(operation.operation);
  return operation.selectionSet.selections
    .filter((selection) => selection.kind === Kind.FIELD)
    .map((field) => `${rootType?.name ?? operation.operation}.${field.name.value}`);
}

/** Distinct valid queries kept parsed; cvm's own clients use about a dozen. */
const VALID_DOCUMENT_CACHE_SIZE = 64;

export function createAppSyncExecutor(options: AppSyncExecutorOptions): AppSyncExecutor {
  const { invoke, defaultMode = 'AWS_IAM', onResolverFailure = () => undefined } = options;
  const schema = loadTwinSchema(options.schemaSdl);
  const roots = rootTypeNames(schema);

  const invokeLambda: GraphQLFieldResolver<unknown, ExecutionContext> = async (_source, args, context, info) => {
    const event: ResolverEvent = {
      parentTypeName: info.parentType.name,
      fieldName: info.fieldName,
      arguments: args,
      identity: context.caller.identity,
    };
    let envelope: unknown;
    try {
      envelope = await invoke(event);
      return unwrapEnvelope(envelope);
    } catch (error) {
      if (error instanceof ResolverFieldError) throw error;
      onResolverFailure(`${event.parentTypeName}.${event.fieldName}`, error);
      throw new ResolverFieldError(UNHANDLED_LAMBDA_ERROR_TYPE, UNHANDLED_LAMBDA_MESSAGE, { cause: error });
    }
  };

  // Every field checks the caller's mode before it resolves, so an unauthorized root field never invokes.
  const guard = (type: GraphQLObjectType): void => {
    for (const field of Object.values(type.getFields())) {
      const allowed = allowedAuthModes(type, field, defaultMode);
      const resolve = roots.has(type.name) ? invokeLambda : (field.resolve ?? defaultFieldResolver);
      field.resolve = (source, args, context: ExecutionContext, info) => {
        if (!allowed.has(context.caller.mode)) {
          throw new ResolverFieldError('Unauthorized', notAuthorizedMessage(info.fieldName, info.parentType.name));
        }
        return resolve(source, args, context, info);
      };
    }
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (isObjectType(type) && !type.name.startsWith('__')) guard(type);
  }

  // Parsed and validated documents by their text: clients send the same few operations over and over, and parsing
  // and validating them was the largest part of the twin's own CPU per request. Bounded (oldest dropped first), so
  // that a stream of distinct queries cannot fill memory. Validation depends only on the schema, fixed here.
  const validDocuments = new Map<string, DocumentNode>();
  const remember = (query: string, document: DocumentNode): void => {
    if (validDocuments.size >= VALID_DOCUMENT_CACHE_SIZE) {
      const oldest = validDocuments.keys().next();
      if (oldest.done !== true) validDocuments.delete(oldest.value);
    }
    validDocuments.set(query, document);
  };

  return {
    schema,
    async run(request, caller) {
      const operationName = request.operationName ?? undefined;
      let document = validDocuments.get(request.query);
      if (document === undefined) {
        try {
          document = parse(new Source(request.query, 'request'));
        } catch (error) {
          if (error instanceof GraphQLError)
            return { body: rejectedOperationResponse([error], 'syntax'), rootFields: [] };
          throw error;
        }
        const validationErrors = validate(schema, document);
        if (validationErrors.length > 0) {
          const rootFields = selectedRootFields(schema, document, operationName);
          return { body: rejectedOperationResponse(validationErrors, 'validation'), rootFields };
        }
        remember(request.query, document);
      }
      const rootFields = selectedRootFields(schema, document, operationName);
      const overLimit =
        options.limits === undefined ? undefined : exceededLimit(document, operationName, options.limits);
      if (overLimit !== undefined) {
        return { body: rejectedOperationResponse([new GraphQLError(overLimit)], 'validation'), rootFields };
      }
      const result = await execute({
        schema,
        document,
        operationName,
        variableValues: request.variables ?? undefined,
        contextValue: { caller } satisfies ExecutionContext,
      });
      // No data at all means the operation never ran: an unknown operation name or variables that do not fit.
      if (!('data' in result) && result.errors !== undefined) {
        return { body: rejectedOperationResponse(result.errors, 'validation'), rootFields };
      }
      return { body: executionResponse(result), rootFields };
    },
  };
}
