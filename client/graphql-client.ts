/**
 * A small GraphQL-over-HTTPS client for cvm's API, in AWS AppSync or the local twin.
 *
 * Built on node:https because Node 20's fetch cannot trust a custom CA (the local stack's TLS CA)
 * without undici's dispatcher API. Devices authenticate with an API key; admins sign with SigV4.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { SignatureV4Init } from '@smithy/signature-v4';
import { GraphqlError, HttpError, NetworkError, type GraphqlErrorEntry } from './errors.ts';
import { createAppSyncSigner } from './sigv4.ts';

/** Static AWS credentials, or a provider of them (what `fromNodeProviderChain()` returns). */
export type AwsCredentials = SignatureV4Init['credentials'];

export type GraphqlAuth =
  | { readonly kind: 'apiKey'; readonly apiKey: string }
  | { readonly kind: 'iam'; readonly region: string; readonly credentials: AwsCredentials };

export interface GraphqlClientOptions {
  /** The GraphQL endpoint; https only. */
  readonly url: string;
  /** PEM of the CA to trust for the endpoint instead of Node's bundled roots (the local stack's TLS CA). */
  readonly ca?: string;
  readonly auth: GraphqlAuth;
  /** Budget for one request, from connecting to the last byte of the answer. Default 30 s. */
  readonly timeoutMs?: number;
  /** Default `cvm-client node/<version>`. */
  readonly userAgent?: string;
}

export type GraphqlVariables = Readonly<Record<string, unknown>>;

export interface GraphqlClient {
  /**
   * Send one operation and return its `data`. Throws GraphqlError when the answer holds errors (the first one,
   * even next to data: every cvm operation selects a single root field, so any error means that field failed),
   * HttpError for an HTTP failure without GraphQL errors, NetworkError when no answer arrived.
   */
  request<T>(query: string, variables?: GraphqlVariables): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Far above any cvm answer (a page of 100 devices); stops a misbehaving server from filling memory. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export function createGraphqlClient(options: GraphqlClientOptions): GraphqlClient {
  const url = new URL(options.url);
  if (url.protocol !== 'https:') {
    throw new TypeError(`The GraphQL endpoint must be an https:// URL (got ${url.protocol}//${url.host}).`);
  }
  // keepAlive saves a TLS handshake per call in batch work; Node unrefs idle sockets, so no close() is needed.
  const agent = new Agent({ keepAlive: true, ...(options.ca === undefined ? {} : { ca: options.ca }) });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const userAgent = options.userAgent ?? `cvm-client node/${process.versions.node}`;
  const authorize = authorizer(url, options.auth);

  return {
    async request<T>(query: string, variables?: GraphqlVariables): Promise<T> {
      const body = JSON.stringify(variables === undefined ? { query } : { query, variables });
      const headers: OutgoingHttpHeaders = {
        ...(await authorize(body)),
        accept: 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': userAgent,
      };
      const response = await post(url, { agent, headers, body, timeoutMs });
      return readGraphqlResponse<T>(url, response);
    },
  };
}

type Authorizer = (body: string) => Promise<Record<string, string>>;

function authorizer(url: URL, auth: GraphqlAuth): Authorizer {
  const baseHeaders = { host: url.host, 'content-type': 'application/json' };
  if (auth.kind === 'apiKey') {
    return () => Promise.resolve({ ...baseHeaders, 'x-api-key': auth.apiKey });
  }
  return createAppSyncSigner({ url, region: auth.region, credentials: auth.credentials });
}

interface RawResponse {
  readonly statusCode: number;
  readonly body: string;
}

function post(
  url: URL,
  options: { agent: Agent; headers: OutgoingHttpHeaders; body: string; timeoutMs: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void =>
      reject(new NetworkError(`No answer from ${url.origin}: ${error.message}`, { cause: error }));
    const request = httpsRequest(url, { method: 'POST', agent: options.agent, headers: options.headers });
    const timer = setTimeout(
      () => request.destroy(new Error(`timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    request.on('close', () => clearTimeout(timer));
    request.on('error', fail);
    request.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) request.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('end', () =>
        resolve({ statusCode: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    request.end(options.body);
  });
}

function readGraphqlResponse<T>(url: URL, response: RawResponse): T {
  const { statusCode } = response;
  const succeeded = statusCode >= 200 && statusCode < 300;
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body);
  } catch (error) {
    throw new HttpError(
      statusCode,
      succeeded ? `${url.origin} answered with a body that is not JSON.` : `${url.origin} answered HTTP ${statusCode}.`,
      { cause: error, ...(succeeded ? { errorType: 'InvalidResponse' } : {}) },
    );
  }
  const errors = graphqlErrors(parsed);
  if (errors.length > 0) throw new GraphqlError(errors as [GraphqlErrorEntry, ...GraphqlErrorEntry[]]);
  if (!succeeded) {
    const detail = isRecord(parsed) && typeof parsed.message === 'string' ? `: ${parsed.message.slice(0, 200)}` : '.';
    throw new HttpError(statusCode, `${url.origin} answered HTTP ${statusCode}${detail}`);
  }
  if (!isRecord(parsed) || !isRecord(parsed.data)) {
    throw new HttpError(statusCode, `${url.origin} answered without data or errors.`, { errorType: 'InvalidResponse' });
  }
  return parsed.data as T;
}

function graphqlErrors(body: unknown): GraphqlErrorEntry[] {
  if (!isRecord(body) || !Array.isArray(body.errors)) return [];
  return body.errors.map((entry: unknown) => {
    const error = isRecord(entry) ? entry : {};
    const extensions = isRecord(error.extensions) ? error.extensions : {};
    // AppSync puts the type at the top level; other servers use extensions.
    const errorType = [error.errorType, extensions.errorType, extensions.code].find(
      (value) => typeof value === 'string',
    );
    return {
      errorType: errorType ?? 'GraphQLError',
      message: typeof error.message === 'string' ? error.message : 'The server reported an error without a message.',
      path: Array.isArray(error.path)
        ? error.path.filter((part): part is string | number => typeof part === 'string' || typeof part === 'number')
        : [],
    };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
