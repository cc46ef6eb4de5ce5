/**
 * Failures of the local certificate authority. Where AWS IoT has an equivalent exception, the class
 * says which, so that the core meets the same refusals locally as in the cloud.
 */

/** The CA directory exists but does not hold a usable CA: a half-written, edited or damaged store. */
export class CaStoreError extends Error {
  override readonly name = 'CaStoreError';

  constructor(
    readonly directory: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The core's error, so that the core turns a refusal here into `InvalidCsr` as it does for AWS IoT's. */
export { CsrRejectedError } from '../../../core/errors.ts';

/** The core's error for activating a revoked certificate (AWS IoT: CertificateStateException). */
export { CertificateRevokedError } from '../../../core/errors.ts';

/** A certificate that is still in use cannot be deleted (AWS IoT: DeleteConflictException). */
export class DeleteConflictError extends Error {
  override readonly name = 'DeleteConflictError';
}
