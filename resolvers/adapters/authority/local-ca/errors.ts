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

/**
 * A registry file holds what the registry never writes: a line that is not a whole record, not at the end where a
 * killed process may have cut one short. Opening stops there rather than guess which records to trust.
 */
export class RegistryFileError extends Error {
  override readonly name = 'RegistryFileError';

  constructor(
    readonly file: string,
    /** 1-based. */
    readonly line: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `The local CA's registry file ${file} is damaged at line ${line}: ${reason}. Each line is one version of one ` +
        'record: repair or remove that line, or delete the registry directory to start afresh (the local CA then ' +
        'forgets every certificate and thing it holds).',
      options,
    );
  }
}
