/**
 * What stands between AppSync and the resolver in AWS, for the burst: today nothing (every request reaches a
 * Lambda container of its own).
 */
import type { ResolverEnvelope, ResolverEvent } from '../contract/lambda-envelope.ts';

export function servedAsDeployed(
  handler: (event: ResolverEvent) => Promise<ResolverEnvelope>,
  _iotCertificateRate: number,
): (event: ResolverEvent) => Promise<ResolverEnvelope> {
  return handler;
}
