import type { ErrorType } from '../../contract/error-types.ts';

export { ERROR_TYPES } from '../../contract/error-types.ts';
export type { ErrorType } from '../../contract/error-types.ts';

/**
 * A failure with a type the client sees and a message a person can act on.
 * The message must never carry a token, a key or a whole CSR.
 */
export class CvmError extends Error {
  override readonly name = 'CvmError';

  constructor(
    readonly errorType: ErrorType,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isCvmError(error: unknown): error is CvmError {
  return error instanceof CvmError;
}

/**
 * Raised by a DeviceStore when a conditional write loses: the item changed since it was read
 * (or, on create, already exists). The core decides what that means.
 */
export class ConditionFailedError extends Error {
  override readonly name = 'ConditionFailedError';
}

/**
 * Raised by an adapter when AWS (or the local stand-in) throttles a call.
 * The core retries these with backoff inside the request's time budget, then answers `Throttled`.
 */
export class ThrottledError extends Error {
  override readonly name = 'ThrottledError';
}

/** Raised by a CertificateAuthority when the thing or certificate it was asked about does not exist. */
export class ResourceNotFoundError extends Error {
  override readonly name = 'ResourceNotFoundError';
}

/**
 * Raised by a CertificateAuthority that refuses to sign a CSR the core accepted (AWS IoT's
 * InvalidRequestException on CreateCertificateFromCsr). The device gets `InvalidCsr`: retrying the same CSR
 * cannot help.
 */
export class CsrRejectedError extends Error {
  override readonly name = 'CsrRejectedError';
}

/**
 * Raised by a CertificateAuthority asked to activate a certificate that is REVOKED (final in AWS IoT): an admin
 * revoked it while it was being issued.
 */
export class CertificateRevokedError extends Error {
  override readonly name = 'CertificateRevokedError';
}
