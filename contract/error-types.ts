/**
 * The error types a client can see, exactly as they appear in `errors[].errorType`.
 * Each is a decision the caller can act on; see the README's error table.
 */
export const ERROR_TYPES = [
  'InvalidInput',
  'InvalidCsr',
  'CsrSubjectMismatch',
  'InvalidRegistrationToken',
  'TooManyAttempts',
  'AlreadyProvisioned',
  // The device's key is pinned and the CSR is for another key (the token was right).
  'KeyMismatch',
  // renewCertificate / confirmCertificate: the caller did not prove it holds the certificate's key (one answer for
  // an unknown serial, a device not ACTIVE, another certificate, a signature that does not verify).
  'InvalidProof',
  'IssuanceInProgress',
  'Throttled',
  'DeviceAlreadyExists',
  'DeviceNotFound',
  'InternalError',
  // AppSync's own type for a field the caller's auth mode may not use; the resolver repeats the check.
  'Unauthorized',
] as const;

export type ErrorType = (typeof ERROR_TYPES)[number];
