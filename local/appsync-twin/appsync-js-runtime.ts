/**
 * A small APPSYNC_JS runtime for the twin: it loads the very resolver file AppSync runs
 * (resolvers/appsync/*.js) and evaluates its `request` and `response` around a Lambda invocation, as AppSync's
 * Lambda data source does.
 *
 * - The module is turned into a function body by esbuild (ESM → CommonJS, nothing else changed) and run in its
 *   own V8 context (node:vm), with no `process`, `require`, timers or I/O; its only import, `@aws-appsync/utils`,
 *   is the `util` below. Node 20 has no stable way to link an ES module in a vm context (SourceTextModule needs
 *   --experimental-vm-modules), so the import is resolved here rather than by Node's loader.
 * - `util.error` throws and stops the handler; `util.appendError` records an error and carries on; `util.unauthorized`
 *   throws AppSync's Unauthorized (developer guide, "Runtime utilities" / `@aws-appsync/utils` types).
 * - The request handler's result must be `{ operation: 'Invoke', payload }`; the payload goes to the Lambda handler
 *   through a JSON round trip (the Lambda sees JSON), and its answer comes back the same way as `ctx.result`.
 * - A Lambda failure fills `ctx.error` as AppSync does: `{ type: 'Lambda:Unhandled', message }` when the function
 *   threw or timed out (aws/aws-appsync-community#209, #386), or the Lambda service's own error (e.g. throttling)
 *   when the invocation never ran; the response handler decides what the client sees.
 */
import { readFileSync } from 'node:fs';
import { createContext, Script } from 'node:vm';
import { transformSync } from 'esbuild';
import { ResolverFieldError } from './response.ts';

/** AppSync's error type for a Lambda function that threw or timed out. */
export const LAMBDA_UNHANDLED = 'Lambda:Unhandled';

/** The errorType of a `util.error` or `util.appendError` called without one (AppSync's, from its VTL days). */
export const DEFAULT_CODE_ERROR_TYPE = 'CustomTemplateException';

/** A failure of the Lambda service itself (throttling, for one): the function never ran. */
export class LambdaServiceError extends Error {
  override readonly name = 'LambdaServiceError';

  /** @param type AppSync's `ctx.error.type`, e.g. `Lambda:TooManyRequestsException`. */
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** An error the resolver code raised with `util.error` or `util.appendError`. */
export interface ResolverCodeError {
  readonly message: string;
  readonly errorType: string;
  readonly data: unknown;
  readonly errorInfo: unknown;
}

/** The `ctx` a handler sees; the parts cvm's resolvers and AppSync's docs name. */
export interface AppSyncJsContext {
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly args: Readonly<Record<string, unknown>>;
  readonly identity: unknown;
  readonly source: unknown;
  readonly info: {
    readonly parentTypeName: string;
    readonly fieldName: string;
    readonly variables: Readonly<Record<string, unknown>>;
  };
  readonly request: { readonly headers: Readonly<Record<string, string>> };
  readonly stash: Record<string, unknown>;
  result?: unknown;
  error?: { readonly type: string; readonly message: string };
}

export interface ResolverModule {
  request(ctx: AppSyncJsContext): unknown;
  response(ctx: AppSyncJsContext): unknown;
}

export interface FieldInvocation {
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly identity: unknown;
  readonly source: unknown;
  readonly parentTypeName: string;
  readonly fieldName: string;
  readonly variables: Readonly<Record<string, unknown>>;
}

export interface FieldOutcome {
  /** What `response` returned; undefined when a handler threw. */
  readonly value: unknown;
  /** `util.appendError` calls, in order. */
  readonly appendedErrors: readonly ResolverCodeError[];
}

export interface LambdaResolverOptions {
  /** The APPSYNC_JS file, as deployed. */
  readonly codeFile: string;
  /** The Lambda function: gets the request's payload, answers the result (or throws, as a crash would). */
  readonly handler: (payload: unknown) => Promise<unknown>;
  /** The function's timeout; past it the invocation fails as `Lambda:Unhandled`. Default: none. */
  readonly timeoutMs?: number;
  /** Told about each invocation that failed (the message stays in the log, as in CloudWatch). */
  readonly onLambdaFailure?: (error: unknown) => void;
}

/** A failure the resolver code itself raised (`util.error`), carried out of the vm. */
class UtilError extends Error {
  override readonly name = 'UtilError';

  constructor(readonly detail: ResolverCodeError) {
    super(detail.message);
  }
}

interface Invocation {
  readonly appended: ResolverCodeError[];
  readonly parentTypeName: string;
  readonly fieldName: string;
}

function codeError(message: unknown, errorType: unknown, data: unknown, errorInfo: unknown): ResolverCodeError {
  return {
    message: String(message),
    errorType: typeof errorType === 'string' ? errorType : DEFAULT_CODE_ERROR_TYPE,
    data: data ?? null,
    errorInfo: errorInfo ?? null,
  };
}

/** Copies a value the way a JSON hop between AppSync and Lambda does (and out of the vm's realm). */
function throughJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

function isResolverModule(value: unknown): value is ResolverModule {
  if (typeof value !== 'object' || value === null) return false;
  const { request, response } = value as Record<string, unknown>;
  return typeof request === 'function' && typeof response === 'function';
}

/** Loads an APPSYNC_JS module; `util` calls report to whatever invocation `current()` names. */
function loadModule(codeFile: string, current: () => Invocation): ResolverModule {
  const util = {
    error(message: unknown, errorType?: unknown, data?: unknown, errorInfo?: unknown): never {
      throw new UtilError(codeError(message, errorType, data, errorInfo));
    },
    appendError(message: unknown, errorType?: unknown, data?: unknown, errorInfo?: unknown): void {
      current().appended.push(codeError(message, errorType, data, errorInfo));
    },
    unauthorized(): never {
      const { fieldName, parentTypeName } = current();
      throw new UtilError(
        codeError(`Not Authorized to access ${fieldName} on type ${parentTypeName}`, 'Unauthorized', null, null),
      );
    },
  };
  // Anything else the code asks of util is missing here: say so instead of answering undefined.
  const strictUtil = new Proxy(util, {
    get(target, property, receiver) {
      if (typeof property === 'string' && !(property in target)) {
        throw new Error(`util.${property} is not provided by the twin's APPSYNC_JS runtime (${codeFile}).`);
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  const modules: Readonly<Record<string, unknown>> = { '@aws-appsync/utils': { util: strictUtil } };

  const { code } = transformSync(readFileSync(codeFile, 'utf8'), {
    format: 'cjs',
    loader: 'js',
    sourcefile: codeFile,
    target: 'es2020',
  });
  const context = createContext({});
  const factory = new Script(`(function (exports, require, module) {\n${code}\n})`, {
    filename: codeFile,
  }).runInContext(context) as (exports: unknown, require: (name: string) => unknown, module: unknown) => void;
  const module = { exports: {} as unknown };
  factory(
    module.exports,
    (name) => {
      if (!(name in modules)) throw new Error(`${codeFile} imports ${name}, which APPSYNC_JS does not provide.`);
      return modules[name];
    },
    module,
  );
  if (!isResolverModule(module.exports)) {
    throw new Error(`${codeFile} must export the functions request(ctx) and response(ctx).`);
  }
  return module.exports;
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`)),
      timeoutMs,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A field resolver backed by an APPSYNC_JS file and a Lambda function, evaluated as AppSync evaluates a unit
 * resolver on a Lambda data source. A `util.error` (or a handler that throws) becomes a ResolverFieldError.
 */
export function createLambdaResolver(
  options: LambdaResolverOptions,
): (field: FieldInvocation) => Promise<FieldOutcome> {
  const { handler, timeoutMs, onLambdaFailure = () => undefined } = options;
  let active: Invocation | undefined;
  const module = loadModule(options.codeFile, () => {
    if (active === undefined) throw new Error('util was called outside a request or response handler.');
    return active;
  });

  // Handlers are synchronous (APPSYNC_JS has no async), so one invocation is active at a time.
  const evaluate = (invocation: Invocation, run: () => unknown): unknown => {
    active = invocation;
    try {
      return run();
    } catch (error) {
      if (error instanceof UtilError) {
        const { message, errorType, data, errorInfo } = error.detail;
        throw new ResolverFieldError(errorType, message, { data, errorInfo });
      }
      throw new ResolverFieldError('InternalFailure', 'The resolver code failed to evaluate.', { cause: error });
    } finally {
      active = undefined;
    }
  };

  return async (field) => {
    const invocation: Invocation = { appended: [], parentTypeName: field.parentTypeName, fieldName: field.fieldName };
    const ctx: AppSyncJsContext = {
      arguments: field.arguments,
      args: field.arguments,
      identity: field.identity,
      source: field.source,
      info: { parentTypeName: field.parentTypeName, fieldName: field.fieldName, variables: field.variables },
      request: { headers: {} },
      stash: {},
    };
    const request = throughJson(evaluate(invocation, () => module.request(ctx)));
    const { operation, payload } = (request ?? {}) as { operation?: unknown; payload?: unknown };
    if (operation !== 'Invoke') {
      throw new ResolverFieldError('InternalFailure', `Unsupported Lambda operation ${String(operation)}.`);
    }
    try {
      ctx.result = throughJson(await withTimeout(handler(payload), timeoutMs));
    } catch (error) {
      onLambdaFailure(error);
      ctx.error =
        error instanceof LambdaServiceError
          ? { type: error.type, message: error.message }
          : { type: LAMBDA_UNHANDLED, message: error instanceof Error ? error.message : String(error) };
    }
    const value = throughJson(evaluate(invocation, () => module.response(ctx)));
    return { value, appendedErrors: invocation.appended };
  };
}
