/** The answers a device gets when it does not get a certificate, each in one place. */
import { CsrRejectedError, CvmError, ThrottledError, isCvmError } from '../errors.ts';

/**
 * The one answer for an unknown serial, a wrong token, an expired token, a revoked device and a locked device
 * asked with a wrong token: nothing in it tells whether the serial exists.
 */
export function invalidToken(): CvmError {
  return new CvmError(
    'InvalidRegistrationToken',
    'The serial number and registration token do not match an enrollable device. Check both, or ask your administrator for a new token.',
  );
}

/** Only to the right token of a locked device: whoever holds it learns nothing they did not know. */
export function tooManyAttempts(): CvmError {
  return new CvmError(
    'TooManyAttempts',
    'This device is locked after too many wrong registration tokens; ask your administrator to reset it.',
  );
}

export function issuanceInProgress(): CvmError {
  return new CvmError(
    'IssuanceInProgress',
    'A certificate for this device is being issued by another request; retry in a few seconds.',
  );
}

export function alreadyProvisioned(): CvmError {
  return new CvmError(
    'AlreadyProvisioned',
    'This device already has an active certificate for another key. Retry with the original key, or ask an administrator to reset the device.',
  );
}

export function outOfTime(): CvmError {
  return new CvmError('IssuanceInProgress', 'This request ran out of time to issue the certificate; retry shortly.');
}

export function revokedWhileIssuing(): CvmError {
  return new CvmError(
    'InvalidRegistrationToken',
    'The device was revoked or reset while its certificate was being issued; ask your administrator for a new token.',
  );
}

/** What a failure during issuance means to the device, once the attempt has been undone (or left for cleanup). */
export function issuanceFailed(error: unknown, certificateLeftOver: boolean): CvmError {
  if (isCvmError(error)) return error;
  if (error instanceof CsrRejectedError) {
    return new CvmError('InvalidCsr', `${error.message.replace(/\.$/, '')}. Make a new CSR with an accepted key.`, {
      cause: error,
    });
  }
  if (error instanceof ThrottledError) {
    return new CvmError('Throttled', 'AWS is throttling requests right now; retry in a few seconds.', { cause: error });
  }
  return new CvmError(
    'InternalError',
    certificateLeftOver
      ? 'The certificate could not be issued; retry with the same token (cleanup of the attempt finishes first).'
      : 'The certificate could not be issued; nothing was kept. Retry with the same token.',
    { cause: error },
  );
}
