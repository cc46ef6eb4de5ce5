/**
 * What stands between AppSync and the resolver in AWS, for the burst: the requestCertificate function's reserved
 * concurrency, derived from the AWS IoT quota as the CDK construct derives it. Lambda refuses an invocation over
 * it at once, and the AppSync resolver answers Throttled: the same as admission with no wait.
 */
import type { ResolverEnvelope, ResolverEvent } from '../contract/lambda-envelope.ts';
import { issuanceConcurrency } from '../contract/issuance-capacity.ts';
import { admitIssuances } from '../resolvers/admission.ts';

export function servedAsDeployed(
  handler: (event: ResolverEvent) => Promise<ResolverEnvelope>,
  iotCertificateRate: number,
): (event: ResolverEvent) => Promise<ResolverEnvelope> {
  return admitIssuances(handler, { maxConcurrent: issuanceConcurrency(iotCertificateRate), maxWaitMs: 0 });
}
