/**
 * The local twin of AWS AppSync for cvm: an HTTPS GraphQL endpoint that serves `schema.graphql` unchanged,
 * authenticates like AppSync (AWS_IAM default, API_KEY additional), authorizes every field by the schema's
 * directives, and hands each root field to `invoke`, as AppSync's Lambda data source does. It holds no business
 * logic: what `invoke` answers is what the client gets.
 *
 * HTTP behaviour, after the AppSync team's description of it (graphql/graphql-over-http#81):
 * `POST /graphql` with `{ query, variables?, operationName? }`; an empty body is 400 "Request body is empty.",
 * a body that is not such an object is 400 "Unable to parse GraphQL query.", both MalformedHttpRequestException;
 * GraphQL syntax and validation errors are 200 with `data: null`. AppSync's request payload quota is 1 MB; a
 * larger body is 413. The twin answers other paths with 404 and other methods with 405 (it does not serve
 * AppSync's GET form, which cvm's clients never use).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ResolverEnvelope, ResolverEvent } from '../../contract/lambda-envelope.ts';
import { createAuthenticator } from './authenticate.ts';
import type { AdminCredential } from './authenticate.ts';
import type { RequestLimits } from './limits.ts';
import { createAppSyncExecutor } from './executor.ts';
import type { GraphQLRequest } from './executor.ts';
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
  invoke: (event: ResolverEvent) => Promise<ResolverEnvelope>;
  /** AppSync's query depth and resolver count limits, as the deployed API has them. Default: none. */
  limits?: RequestLimits;
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

export async function startAppSyncTwin(options: AppSyncTwinOptions): Promise<RunningAppSyncTwin> {
  const { host = '127.0.0.1', port = 4000, log = () => undefined } = options;
  const executor = createAppSyncExecutor({
    schemaSdl: options.schemaSdl,
    invoke: options.invoke,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    onResolverFailure: (field, error) =>
      log('error', 'resolver failed', {
        field,
        error: error instanceof Error ? error.name : typeof error,
        // The message can help a developer find the bug; it is cut short so it cannot carry a whole payload.
        detail: error instanceof Error ? error.message.slice(0, 200) : undefined,
      }),
  });
  const authenticate = createAuthenticator({
    region: options.region,
    apiKeys: options.apiKeys,
    adminCredentials: options.adminCredentials,
  });
  let closing = false;

  const send = (
    response: ServerResponse,
    requestId: string,
    status: number,
    body: AppSyncResponseBody,
    headers = {},
  ) => {
    const payload = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
      ...(closing ? { connection: 'close' } : {}),
      ...headers,
    });
    response.end(payload);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = performance.now();
    const requestId = randomUUID();
    const summary: Record<string, unknown> = { requestId };
    let status = 500;
    try {
      const target = new URL(request.url ?? '/', 'https://twin.invalid');
      if (target.pathname !== GRAPHQL_PATH) throw new HttpRejection(404, 'NotFoundException', 'No such resource.');
      if (request.method !== 'POST') {
        throw new HttpRejection(405, 'MethodNotAllowedException', 'Only POST is supported.', { allow: 'POST' });
      }
      const read = await readBodyWithLimit(request, REQUEST_BODY_LIMIT_BYTES);
      if (read.kind === 'too-large') {
        throw new HttpRejection(413, 'PayloadTooLargeException', 'The request body exceeds the 1 MB limit.', {
          connection: 'close',
        });
      }

      const rawTarget = request.url ?? GRAPHQL_PATH;
      const queryStart = rawTarget.indexOf('?');
      const authentication = await authenticate({
        method: request.method,
        path: queryStart < 0 ? rawTarget : rawTarget.slice(0, queryStart),
        query: queryStart < 0 ? '' : rawTarget.slice(queryStart + 1),
        headers: request.headers,
        body: read.body,
        remoteAddress: request.socket.remoteAddress,
      });
      if (!authentication.ok) {
        throw new HttpRejection(authentication.status, authentication.errorType, authentication.message);
      }
      summary['authMode'] = authentication.caller.mode;

      if (!isJsonContentType(request.headers['content-type'])) {
        throw new HttpRejection(400, MALFORMED, 'Content-Type must be application/json.');
      }
      const graphqlRequest = parseGraphQLRequest(read.body);
      const outcome = await executor.run(graphqlRequest, authentication.caller);
      summary['fields'] = outcome.rootFields;
      status = 200;
      send(response, requestId, status, outcome.body);
    } catch (error) {
      if (error instanceof HttpRejection) {
        status = error.status;
        summary['errorType'] = error.errorType;
        send(response, requestId, status, requestErrorResponse(error.errorType, error.message), {
          'x-amzn-errortype': error.errorType,
          ...error.headers,
        });
      } else if (error instanceof RequestBodyError) {
        status = 400;
        summary['errorType'] = 'RequestBodyError';
        response.destroy();
      } else {
        status = 500;
        summary['errorType'] = 'InternalFailure';
        log('error', 'twin failed to answer', { requestId, error: error instanceof Error ? error.name : typeof error });
        if (!response.headersSent) {
          send(response, requestId, status, requestErrorResponse('InternalFailure', 'An internal error occurred.'));
        }
      }
    } finally {
      const durationMs = Math.round(performance.now() - started);
      log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'graphql request', {
        ...summary,
        status,
        durationMs,
      });
    }
  };

  const server = createServer({ key: options.tls.keyPem, cert: options.tls.certPem }, (request, response) => {
    void handle(request, response);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `https://${hostForUrl(host)}:${address.port}${GRAPHQL_PATH}`;
  log('info', 'appsync twin listening', { url });

  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        closing = true;
        const cutOff = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        cutOff.unref();
        server.close((error) => {
          clearTimeout(cutOff);
          if (error === undefined) resolve();
          else reject(error);
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}
