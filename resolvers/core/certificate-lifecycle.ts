/**
 * The authority-side steps that end a certificate's life. Both are idempotent (the authority
 * treats "already so" and "not found" as done), so a retry or a concurrent cleaner is harmless.
 */
import type { CoreContext } from './context.ts';
import { retryThrottled } from './throttle-retry.ts';

export interface CertificateRef {
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
}

/**
 * Undo an issuance that did not complete: disable first (so the certificate is unusable at once),
 * then detach, then delete (AWS IoT refuses to delete a certificate that is active or attached).
 */
export async function discardCertificate(ctx: CoreContext, deadline: number, ref: CertificateRef): Promise<void> {
  const { authority } = ctx;
  await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(ref.certificateId, 'INACTIVE'));
  await Promise.all([
    retryThrottled(ctx, deadline, () => authority.detachPolicy(ref.certificateArn)),
    retryThrottled(ctx, deadline, () => authority.detachThingPrincipal(ref.thingName, ref.certificateArn)),
  ]);
  await retryThrottled(ctx, deadline, () => authority.deleteCertificate(ref.certificateId));
}

/**
 * Revoke an issued certificate: REVOKED is final in AWS IoT, then detach it from the policy and the
 * thing. The certificate itself is kept, as evidence, in its revoked state.
 */
export async function revokeCertificateInAuthority(
  ctx: CoreContext,
  deadline: number,
  ref: CertificateRef,
): Promise<void> {
  const { authority } = ctx;
  await retryThrottled(ctx, deadline, () => authority.setCertificateStatus(ref.certificateId, 'REVOKED'));
  await Promise.all([
    retryThrottled(ctx, deadline, () => authority.detachPolicy(ref.certificateArn)),
    retryThrottled(ctx, deadline, () => authority.detachThingPrincipal(ref.thingName, ref.certificateArn)),
  ]);
}

export function certificateRefOf(record: {
  thingName: string;
  certificateId?: string;
  certificateArn?: string;
}): CertificateRef | undefined {
  if (record.certificateId === undefined || record.certificateArn === undefined) return undefined;
  return { thingName: record.thingName, certificateId: record.certificateId, certificateArn: record.certificateArn };
}
