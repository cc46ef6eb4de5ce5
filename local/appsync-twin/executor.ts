/**
 * Runs GraphQL operations the way AppSync runs them for this API: every root field has a unit resolver on a
 * Lambda data source, evaluated by the twin's APPSYNC_JS runtime from the very file AppSync runs
 * (appsync-js-runtime.ts); nested fields read properties of what the root returned; and every field is checked
 * against the caller's authorization mode first.
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
  validate,
} from 'graphql';
import type { DocumentNode, GraphQLFieldResolver, GraphQLObjectType, GraphQLSchema } from 'graphql';
import type { ResolverIdentity } from '../../contract/lambda-envelope.ts';
import type { FieldInvocation, FieldOutcome } from './appsync-js-runtime.ts';
import { allowedAuthModes, notAuthorizedMessage } from './field-auth.ts';
import type { AuthMode } from './field-auth.ts';
import { introspectionErrors, type IntrospectionSetting } from './introspection.ts';
import { exceededLimit, type RequestLimits } from './limits.ts';
import { loadTwinSchema } from './schema.ts';
import { ResolverFieldError, executionResponse, rejectedOperationResponse } from './response.ts';
import type { AppSyncFieldError, AppSyncResponseBody } from './response.ts';
import { parseWithinStack } from './parse-document.ts';

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
  /** 400 for a document that does not parse; 200 for anything that reached validation. */
  readonly status: 200 | 400;
  readonly body: AppSyncResponseBody;
  /** `Type.field` of each root field the operation selected, for the request log; empty when it did not parse. */
  readonly rootFields: readonly string[];
}

export interface AppSyncExecutorOptions {
  readonly schemaSdl: string;
  /** Resolves one root field: the APPSYNC_JS resolver around the Lambda (createLambdaResolver). */
  readonly resolveRootField: (field: FieldInvocation) => Promise<FieldOutcome>;
  /** The API's default authorization mode. Default: AWS_IAM, as cvm deploys it. */
  readonly defaultMode?: AuthMode;
  /** AppSync's queryDepthLimit and resolverCountLimit, as the deployed API sets them. Default: none. */
  readonly limits?: RequestLimits;
  /** AppSync's introspectionConfig. Default: ENABLED, as in AppSync. */
  readonly introspection?: IntrospectionSetting;
}

export interface AppSyncExecutor {
  readonly schema: GraphQLSchema;
  run(request: GraphQLRequest, caller: Caller): Promise<OperationOutcome>;
}

interface ExecutionContext {
  readonly caller: Caller;
  readonly variables: Readonly<Record<string, unknown>>;
  /** What resolver code appended with util.appendError, with the path of the field that appended it. */
  readonly appendedErrors: AppSyncFieldError[];
}

const ROOT_OPERATION_TYPES = [OperationTypeNode.QUERY, OperationTypeNode.MUTATION, OperationTypeNode.SUBSCRIPTION];

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

/** graphql-js passes a field's coerced arguments as a plain object keyed by argument name. */
type FieldArguments = Readonly<Record<string, unknown>>;

/** Distinct valid queries kept parsed; cvm's own clients use about a dozen. */
const VALID_DOCUMENT_CACHE_SIZE = 64;

export function createAppSyncExecutor(options: AppSyncExecutorOptions): AppSyncExecutor {
  const { resolveRootField, defaultMode = 'AWS_IAM', introspection = 'ENABLED' } = options;
  const schema = loadTwinSchema(options.schemaSdl);
  const roots = rootTypeNames(schema);

  const resolveWithCode: GraphQLFieldResolver<unknown, ExecutionContext, FieldArguments> = async (
    source,
    args,
    context,
    info,
  ) => {
    const outcome = await resolveRootField({
      arguments: args,
      identity: context.caller.identity,
      source: source ?? null,
      parentTypeName: info.parentType.name,
      fieldName: info.fieldName,
      variables: context.variables,
    });
    const locations = info.fieldNodes.flatMap((node) =>
      node.loc === undefined ? [] : [{ line: node.loc.startToken.line, column: node.loc.startToken.column }],
    );
    for (const appended of outcome.appendedErrors) {
      context.appendedErrors.push({
        path: [info.path.key],
        data: appended.data,
        errorType: appended.errorType,
        errorInfo: appended.errorInfo,
        locations: locations.map(({ line, column }) => ({ line, column, sourceName: null })),
        message: appended.message,
      });
    }
    return outcome.value;
  };

  // Every field checks the caller's mode before it resolves, so an unauthorized root field never invokes.
  const guard = (type: GraphQLObjectType): void => {
    for (const field of Object.values(type.getFields())) {
      const allowed = allowedAuthModes(type, field, defaultMode);
      const resolve = roots.has(type.name) ? resolveWithCode : (field.resolve ?? defaultFieldResolver);
      field.resolve = (source, args: FieldArguments, context: ExecutionContext, info) => {
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
        const parsed = parseWithinStack(new Source(request.query, 'request'));
        if (parsed instanceof GraphQLError)
          return { status: 400, body: rejectedOperationResponse([parsed], 'syntax'), rootFields: [] };
        const validationErrors = [...validate(schema, parsed), ...introspectionErrors(parsed, introspection)];
        if (validationErrors.length > 0) {
          const rootFields = selectedRootFields(schema, parsed, operationName);
          return { status: 200, body: rejectedOperationResponse(validationErrors, 'validation'), rootFields };
        }
        remember(request.query, parsed);
        document = parsed;
      }
      const rootFields = selectedRootFields(schema, document, operationName);
      const overLimit =
        options.limits === undefined ? undefined : exceededLimit(document, operationName, options.limits);
      if (overLimit !== undefined) {
        return {
          status: 200,
          body: rejectedOperationResponse([new GraphQLError(overLimit)], 'validation'),
          rootFields,
        };
      }
      const context: ExecutionContext = { caller, variables: request.variables ?? {}, appendedErrors: [] };
      const result = await execute({
        schema,
        document,
        operationName,
        variableValues: request.variables ?? undefined,
        contextValue: context,
      });
      // No data at all means the operation never ran: an unknown operation name or variables that do not fit.
      if (!('data' in result) && result.errors !== undefined) {
        return { status: 200, body: rejectedOperationResponse(result.errors, 'validation'), rootFields };
      }
      return { status: 200, body: executionResponse(result, context.appendedErrors), rootFields };
    },
  };
}
