/**
 * How many certificate issuances may run at once, derived from the AWS IoT quota they spend. Shared by the CDK
 * construct (the issuing function's reserved concurrency) and the local stack (its admission cap).
 *
 * Every issuance makes one call of each of AWS IoT's certificate APIs (CreateCertificateFromCsr, AttachPolicy,
 * AttachThingPrincipal, UpdateCertificate), each limited to `iotCertificateRate` calls per second per account. An
 * issuance spends well under a second in those calls, so about one second's worth of quota in flight keeps the
 * quota busy without overrunning it: beyond that, requests only wait on throttled calls, and a request that runs
 * out of time after its certificate exists throws that certificate away and spends quota on another.
 */

/** The fields whose calls are capped: issuing (at enrollment and at renewal) is what spends the AWS IoT quota. */
export const ADMITTED_FIELDS = [
  { parentTypeName: 'Mutation', fieldName: 'requestCertificate' },
  { parentTypeName: 'Mutation', fieldName: 'renewCertificate' },
] as const;

/** Whether calls of this field issue a certificate, and so are capped. */
export function isAdmittedField(parentTypeName: string, fieldName: string): boolean {
  return ADMITTED_FIELDS.some((field) => field.parentTypeName === parentTypeName && field.fieldName === fieldName);
}

/** AWS IoT's default CreateCertificateFromCsr quota (requests per second) in most regions. */
export const DEFAULT_IOT_CERTIFICATE_RATE = 15;

/** Concurrent issuances for an AWS IoT certificate quota of `iotCertificateRate` calls per second. */
export function issuanceConcurrency(iotCertificateRate: number): number {
  if (!Number.isFinite(iotCertificateRate) || iotCertificateRate <= 0) {
    throw new RangeError(
      `iotCertificateRate must be a positive number of calls per second, not ${iotCertificateRate}.`,
    );
  }
  return Math.ceil(iotCertificateRate) + 1;
}
