/**
 * The local twin of AWS AppSync for cvm: an HTTPS GraphQL endpoint that serves `schema.graphql` unchanged,
 * authenticates like AppSync (AWS_IAM default, API_KEY additional), authorizes every field by the schema's
 * directives, and hands each root field to `invoke`, as AppSync's Lambda data source does. It holds no business
 * logic: what `invoke` answers is what the client gets.
 *
 * HTTP behaviour, after the AppSync team's description of it (graphql/graphql-over-http#81):
 * `POST /graphql` with `{ query, variables?, operationName? }`; an empty body is 400 "Request body is empty.",
 * a body that is not such an object is 400 "Unable to parse GraphQL query.", both MalformedHttpRequestException;
 * a document that does not parse (even one nested deep enough to overflow the parser) is 400 with a GraphQL
 * error; validation errors are 200 with `data: null`. AppSync's request payload quota is 1 MB; a larger body is
 * 413. CORS as AppSync answers it (cors.ts). The twin answers other paths with 404 and other methods with 405
 * (it does not serve AppSync's GET form, which cvm's clients never use).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Server } from 'node:https';
import type { ResolverEnvelope, ResolverEvent } from '../../contract/lambda-envelope.ts';
import { DEFAULT_INTROSPECTION, type IntrospectionConfig } from '../../contract/introspection.ts';
import { LAMBDA_TIMEOUT_SECONDS, RESOLVER_CODE_FILE } from '../../contract/resolver-code.ts';
import { createLambdaResolver } from './appsync-js-runtime.ts';
import { createAuthenticator } from './authenticate.ts';
import type { AdminCredential, AuthenticatorOptions, Authentication } from './authenticate.ts';
import { CORS_RESPONSE_HEADERS, PREFLIGHT_HEADERS } from './cors.ts';
import type { RequestLimits } from './limits.ts';
import { createAppSyncExecutor } from './executor.ts';
import type { AppSyncExecutor, GraphQLRequest } from './executor.ts';
import { RequestBodyError, readBodyWithLimit } from './read-body.ts';
import { requestErrorResponse } from './response.ts';
import type { AppSyncResponseBody } from './response.ts';

export type TwinLogLevel = 'info' | 'warn' | 'error';

export interface AppSyncTwinOptions {
  /** The contents of schema.graphql. */
  schemaSdl: string;
  tls: { keyPem: string; certPem: string };
  /** Default: 127.0.0.1, so that nothing beyond this machine can reach it. */
  host?: string;
  /** Default: 4000; 0 picks a free port. */
  port?: number;
  /** The region SigV4 credential scopes must name, e.g. us-east-1. */
  region: string;
  /** Valid `x-api-key` values. */
  apiKeys: readonly string[];
  /** Valid SigV4 signers and the IAM identity each one stands for. */
  adminCredentials: readonly AdminCredential[];
  /** Temporary credentials (x-amz-security-token) for the admin identity. Default: none accepted. */
  resolveSession?: AuthenticatorOptions['resolveSession'];
  /** The Lambda handler: what AppSync's Invoke reaches, with the resolver code's payload. */
  invoke: (event: ResolverEvent) => Promise<ResolverEnvelope>;
  /** The APPSYNC_JS resolver of every root field. Default: resolvers/appsync/invoke.js, as deployed. */
  resolverCodeFile?: string;
  /** The Lambda's timeout. Default: the deployed function's (contract/resolver-code.ts). */
  lambdaTimeoutMs?: number;
  /** AppSync's query depth and resolver count limits, as the deployed API has them. Default: none. */
  limits?: RequestLimits;
  /** AppSync's introspectionConfig. Default: as deployed (contract/introspection.ts). */
  introspection?: IntrospectionConfig;
  /** One line per request (never headers, keys, variables or bodies) and one per resolver failure. */
  log?: (level: TwinLogLevel, message: string, fields?: Record<string, unknown>) => void;
}

export interface RunningAppSyncTwin {
  /** `https://host:port/graphql`. */
  readonly url: string;
  /** Stop accepting, end idle keep-alive connections, let requests in flight finish, and resolve when closed. */
  close(): Promise<void>;
}

/** AppSync's quota on the request payload. */
export const REQUEST_BODY_LIMIT_BYTES = 1024 * 1024;
/** How long requests in flight may take to finish after close() before their connections are cut. */
const CLOSE_GRACE_MS = 5_000;
const GRAPHQL_PATH = '/graphql';

const MALFORMED = 'MalformedHttpRequestException';

class HttpRejection extends Error {
  override readonly name = 'HttpRejection';

  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

function isJsonContentType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json' || mediaType === 'application/graphql';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseGraphQLRequest(body: Buffer): GraphQLRequest {
  if (body.length === 0) throw new HttpRejection(400, MALFORMED, 'Request body is empty.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpRejection(400, MALFORMED, 'Unable to parse GraphQL query.');
  }
  const { query, variables, operationName } = isRecord(parsed) ? parsed : {};
  const wellFormed =
    typeof query === 'string' &&
    (variables === undefined || variables === null || isRecord(variables)) &&
    (operationName === undefined || operationName === null || typeof operationName === 'string');
  if (!wellFormed) throw new HttpRejection(400, MALFORMED, 'Unable to parse GraphQL query.');
  return { query, variables: variables ?? null, operationName: operationName ?? null };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

type TwinLog = NonNullable<AppSyncTwinOptions['log']>;

/** The resolver code around the Lambda handler, and the GraphQL executor that calls it for every root field. */
function createExecutor(options: AppSyncTwinOptions, log: TwinLog): AppSyncExecutor {
  const resolveRootField = createLambdaResolver({
    codeFile: options.resolverCodeFile ?? RESOLVER_CODE_FILE,
    handler: (payload) => options.invoke(payload as ResolverEvent),
    timeoutMs: options.lambdaTimeoutMs ?? LAMBDA_TIMEOUT_SECONDS * 1000,
    onLambdaFailure: (error) =>
      log('error', 'resolver failed', {
        error: error instanceof Error ? error.name : typeof error,
        // The message can help a developer find the bug; it is cut short so it cannot carry a whole payload.
        detail: error instanceof Error ? error.message.slice(0, 200) : undefined,
      }),
  });
  return createAppSyncExecutor({
    schemaSdl: options.schemaSdl,
    resolveRootField,
    introspection: options.introspection ?? DEFAULT_INTROSPECTION,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
}

/** The request line's path and query, as sent (still percent-encoded), for the signature check. */
function splitTarget(rawTarget: string): { path: string; query: string } {
  const queryStart = rawTarget.indexOf('?');
  return queryStart < 0
    ? { path: rawTarget, query: '' }
    : { path: rawTarget.slice(0, queryStart), query: rawTarget.slice(queryStart + 1) };
}

function checkPath(request: IncomingMessage): void {
  const target = new URL(request.url ?? '/', 'https://twin.invalid');
  if (target.pathname !== GRAPHQL_PATH) throw new HttpRejection(404, 'NotFoundException', 'No such resource.');
}

function checkMethod(request: IncomingMessage): void {
  if (request.method !== 'POST') {
    throw new HttpRejection(405, 'MethodNotAllowedException', 'Only POST is supported.', { allow: 'POST, OPTIONS' });
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const read = await readBodyWithLimit(request, REQUEST_BODY_LIMIT_BYTES);
  if (read.kind === 'too-large') {
    throw new HttpRejection(413, 'PayloadTooLargeException', 'The request body exceeds the 1 MB limit.', {
      connection: 'close',
    });
  }
  return read.body;
}

function authenticated(authentication: Authentication): Extract<Authentication, { ok: true }> {
  if (!authentication.ok) {
    throw new HttpRejection(authentication.status, authentication.errorType, authentication.message);
  }
  return authentication;
}

function checkContentType(request: IncomingMessage): void {
  if (!isJsonContentType(request.headers['content-type'])) {
    throw new HttpRejection(400, MALFORMED, 'Content-Type must be application/json.');
  }
}

interface Responder {
  send(response: ServerResponse, requestId: string, status: number, body: AppSyncResponseBody, headers?: object): void;
  preflight(response: ServerResponse, requestId: string): void;
}

function createResponder(isClosing: () => boolean): Responder {
  const common = (requestId: string) => ({
    'x-amzn-requestid': requestId,
    ...CORS_RESPONSE_HEADERS,
    ...(isClosing() ? { connection: 'close' } : {}),
  });
  return {
    send(response, requestId, status, body, headers = {}) {
      const payload = JSON.stringify(body);
      response.writeHead(status, {
        'content-type': 'application/json; charset=UTF-8',
        'content-length': Buffer.byteLength(payload),
        ...common(requestId),
        ...headers,
      });
      response.end(payload);
    },
    preflight(response, requestId) {
      response.writeHead(200, { 'content-length': 0, ...common(requestId), ...PREFLIGHT_HEADERS });
      response.end();
    },
  };
}

/** One request, start to end: preflight, target, body, authentication, GraphQL; and the refusal of each step. */
function createRequestHandler(
  options: AppSyncTwinOptions,
  log: TwinLog,
  responder: Responder,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const executor = createExecutor(options, log);
  const authenticate = createAuthenticator({
    region: options.region,
    apiKeys: options.apiKeys,
    adminCredentials: options.adminCredentials,
    ...(options.resolveSession === undefined ? {} : { resolveSession: options.resolveSession }),
  });

  const answer = async (
    request: IncomingMessage,
    response: ServerResponse,
    requestId: string,
    summary: Record<string, unknown>,
  ): Promise<number> => {
    checkPath(request);
    if (request.method === 'OPTIONS') {
      responder.preflight(response, requestId);
      return 200;
    }
    checkMethod(request);
    const body = await readBody(request);
    const { caller } = authenticated(
      await authenticate({
        method: request.method ?? 'POST',
        ...splitTarget(request.url ?? GRAPHQL_PATH),
        headers: request.headers,
        body,
        remoteAddress: request.socket.remoteAddress,
      }),
    );
    summary['authMode'] = caller.mode;
    checkContentType(request);
    const outcome = await executor.run(parseGraphQLRequest(body), caller);
    summary['fields'] = outcome.rootFields;
    responder.send(response, requestId, outcome.status, outcome.body);
    return outcome.status;
  };

  const refuse = (
    error: unknown,
    response: ServerResponse,
    requestId: string,
    summary: Record<string, unknown>,
  ): number => {
    if (error instanceof HttpRejection) {
      summary['errorType'] = error.errorType;
      responder.send(response, requestId, error.status, requestErrorResponse(error.errorType, error.message), {
        'x-amzn-errortype': error.errorType,
        ...error.headers,
      });
      return error.status;
    }
    if (error instanceof RequestBodyError) {
      summary['errorType'] = 'RequestBodyError';
      response.destroy();
      return 400;
    }
    summary['errorType'] = 'InternalFailure';
    log('error', 'twin failed to answer', { requestId, error: error instanceof Error ? error.name : typeof error });
    if (!response.headersSent) {
      responder.send(response, requestId, 500, requestErrorResponse('InternalFailure', 'An internal error occurred.'));
    }
    return 500;
  };

  return async (request, response) => {
    const started = performance.now();
    const requestId = randomUUID();
    const summary: Record<string, unknown> = { requestId };
    let status = 500;
    try {
      status = await answer(request, response, requestId, summary);
    } catch (error) {
      status = refuse(error, response, requestId, summary);
    } finally {
      const durationMs = Math.round(performance.now() - started);
      log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'graphql request', {
        ...summary,
        status,
        durationMs,
      });
    }
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stop accepting, end idle connections, give requests in flight CLOSE_GRACE_MS, then cut what is left. */
function closeGracefully(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cutOff = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    cutOff.unref();
    server.close((error) => {
      clearTimeout(cutOff);
      if (error === undefined) resolve();
      else reject(error);
    });
    server.closeIdleConnections();
  });
}

export async function startAppSyncTwin(options: AppSyncTwinOptions): Promise<RunningAppSyncTwin> {
  const { host = '127.0.0.1', port = 4000, log = () => undefined } = options;
  let closing = false;
  const handle = createRequestHandler(
    options,
    log,
    createResponder(() => closing),
  );
  const server = createServer({ key: options.tls.keyPem, cert: options.tls.certPem }, (request, response) => {
    void handle(request, response);
  });
  await listen(server, port, host);
  const url = `https://${hostForUrl(host)}:${(server.address() as AddressInfo).port}${GRAPHQL_PATH}`;
  log('info', 'appsync twin listening', { url });

  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closing = true;
      closed ??= closeGracefully(server);
      return closed;
    },
  };
}
