/** Raised inside an issuance when a compare-and-swap lost: someone else now decides about the device. */
export class ClaimLostError extends Error {
  override readonly name = 'ClaimLostError';
}
