/**
 * The DynamoDB client's way to dynalite in the local stack: each request the SDK has built (serialized, signed,
 * with its retries and error parsing still the SDK's own) is posted to dynalite's thread, which answers it with
 * dynalite's own request handler, and the answer comes back the same way.
 *
 * Over loopback HTTP, both ends paid for a socket, an HTTP request and its parsing on every call: on the local
 * stack's event loop, the SDK's HTTP client was about a tenth of the time of an enrollment (four DynamoDB calls).
 * Only the transport differs: what dynalite receives is the request the SDK would have sent on the wire, header for
 * header, and dynalite still listens on its loopback port for any other client (the Lambda entry's tests use it).
 */
import type { Worker } from 'node:worker_threads';
import { HttpResponse, type HttpHandler, type HttpRequest } from '@smithy/protocol-http';
import type { HttpHandlerOptions } from '@smithy/types';

/** What the main side posts to dynalite's thread for one request. */
export interface PortRequest {
  readonly kind: 'request';
  readonly id: number;
  readonly method: string;
  /** Path and query, as in an HTTP request line. */
  readonly url: string;
  /** Names in lower case, as Node gives them to a server. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What dynalite's thread posts back. */
export interface PortResponse {
  readonly kind: 'response';
  readonly id: number;
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

interface Pending {
  readonly resolve: (answer: { response: HttpResponse }) => void;
  readonly reject: (error: Error) => void;
}

export class DynalitePortHandler implements HttpHandler {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;

  constructor(private readonly worker: Pick<Worker, 'postMessage'>) {}

  handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const { abortSignal } = options;
    if (abortSignal?.aborted === true) return Promise.reject(abortError());
    const id = (this.nextId += 1);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // dynalite still answers; the answer is dropped. An aborted write may or may not have happened, as on the wire.
        this.pending.delete(id);
        reject(abortError());
      };
      const settle = whenAborted(abortSignal, onAbort);
      this.pending.set(id, {
        resolve: (answer) => {
          settle();
          resolve(answer);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      const message: PortRequest = {
        kind: 'request',
        id,
        method: request.method,
        url: urlOf(request),
        headers: lowerCaseNames(request.headers),
        body: bodyText(request.body),
      };
      this.worker.postMessage(message);
    });
  }

  /** Settles the request an answer from dynalite's thread is for. */
  answer(message: PortResponse): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    pending.resolve({
      response: new HttpResponse({
        statusCode: message.statusCode,
        headers: message.headers,
        body: Buffer.from(message.body, 'utf8'),
      }),
    });
  }

  /** dynalite's thread is gone: every request in flight, and every later one, fails with `error`. */
  fail(error: Error): void {
    this.failure ??= error;
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(error);
    }
  }

  updateHttpClientConfig(): void {
    // Nothing to configure: there is no socket.
  }

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    // The thread is owned and stopped by startDynalite's close().
  }
}

function urlOf(request: HttpRequest): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) if (one !== null) query.append(name, one);
  }
  const search = query.toString();
  return search === '' ? request.path : `${request.path}?${search}`;
}

function lowerCaseNames(headers: Readonly<Record<string, string>>): Record<string, string> {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return lower;
}

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  // DynamoDB's JSON protocol sends text; a stream body would be a new kind of request this transport does not carry.
  throw new TypeError('A DynamoDB request body must be a string or bytes.');
}

/** Calls `listener` when `signal` aborts; returns what stops listening. */
function whenAborted(signal: HttpHandlerOptions['abortSignal'], listener: () => void): () => void {
  if (signal === undefined) return () => undefined;
  if ('addEventListener' in signal) {
    signal.addEventListener('abort', listener, { once: true });
    return () => signal.removeEventListener('abort', listener);
  }
  // The SDK's own AbortSignal type has only onabort.
  signal.onabort = listener;
  return () => {
    signal.onabort = null;
  };
}

function abortError(): Error {
  const error = new Error('The request was aborted.');
  error.name = 'AbortError';
  return error;
}
