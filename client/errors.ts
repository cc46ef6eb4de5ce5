/**
 * What a cvm client call can fail with. Every error carries an `errorType` a program can switch on
 * (the server's `errors[].errorType`, or one named here) and says whether retrying unchanged may help.
 * Messages never hold the API key, a token or the request body.
 */

/**
 * Error types worth retrying unchanged, after a backoff: the server says so for IssuanceInProgress and
 * Throttled, and an InternalError left nothing behind (the server undid its work), so a retry with the same
 * token and key is safe. Every other type is final for that request; KeyMismatch in particular (the device's key
 * is pinned and the CSR is for another key) gets the same answer however often it is repeated.
 */
const RETRYABLE_GRAPHQL_ERROR_TYPES: ReadonlySet<string> = new Set([
  'IssuanceInProgress',
  'Throttled',
  'InternalError',
]);

/** HTTP statuses that mean "try again later" rather than "this request is wrong". */
const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** One entry of a GraphQL response's `errors` array, as AppSync (and the local twin) send it. */
export interface GraphqlErrorEntry {
  readonly errorType: string;
  readonly message: string;
  readonly path: readonly (string | number)[];
}

/** The server answered, and the answer is a GraphQL error (the first one when there are several). */
export class GraphqlError extends Error {
  override readonly name = 'GraphqlError';
  readonly errorType: string;
  readonly path: readonly (string | number)[];
  readonly retryable: boolean;
  /** Every error of the response, the first being this one. */
  readonly errors: readonly GraphqlErrorEntry[];

  constructor(errors: readonly [GraphqlErrorEntry, ...GraphqlErrorEntry[]], options?: { cause?: unknown }) {
    const [first] = errors;
    super(first.message, options);
    this.errorType = first.errorType;
    this.path = first.path;
    this.retryable = RETRYABLE_GRAPHQL_ERROR_TYPES.has(first.errorType);
    this.errors = errors;
  }
}

/** The server answered with an HTTP failure (or an unreadable body) and no GraphQL errors. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly errorType: string;
  readonly retryable: boolean;

  constructor(
    readonly statusCode: number,
    message: string,
    options?: { cause?: unknown; errorType?: string },
  ) {
    super(message, options);
    this.errorType = options?.errorType ?? errorTypeForStatus(statusCode);
    this.retryable = RETRYABLE_HTTP_STATUSES.has(statusCode);
  }
}

/** No answer: the connection, TLS or the time budget failed. The request may or may not have been processed. */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  readonly errorType = 'NetworkError';
  readonly retryable = true;

  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
}

/** `enrollDevice` refused to go on: the key on disk or the certificate it was given cannot be used. */
export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
  readonly retryable = false;

  constructor(
    readonly errorType: 'UnsupportedKey' | 'InvalidCertificate' | 'CertificateKeyMismatch' | 'KeyOfAnotherDevice',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `rotateDevice` stopped: what it found on disk, what the server answered, or the new certificate's check. */
export class RotationError extends Error {
  override readonly name = 'RotationError';
  readonly retryable = false;

  constructor(
    readonly errorType:
      | 'NotEnrolled'
      | 'InvalidProof'
      | 'KeyMismatch'
      | 'CheckFailed'
      | 'InvalidCertificate'
      | 'CertificateKeyMismatch'
      | 'UnsupportedKey',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type CvmClientError = GraphqlError | HttpError | NetworkError | EnrollmentError | RotationError;

export function isRetryable(error: unknown): boolean {
  return (
    (error instanceof GraphqlError || error instanceof HttpError || error instanceof NetworkError) && error.retryable
  );
}

function errorTypeForStatus(statusCode: number): string {
  switch (statusCode) {
    case 401:
      return 'UnauthorizedException';
    case 403:
      return 'AccessDeniedException';
    case 404:
      return 'NotFound';
    case 429:
      return 'Throttled';
    default:
      return statusCode >= 500 ? 'ServiceUnavailable' : 'BadRequest';
  }
}
