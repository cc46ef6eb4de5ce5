/** Certificate ARNs of the form AWS IoT uses: `arn:aws:iot:<region>:<account>:cert/<id>`. */

export interface ArnScope {
  readonly region: string;
  readonly accountId: string;
}

export function certificateArn(scope: ArnScope, certificateId: string): string {
  return `arn:aws:iot:${scope.region}:${scope.accountId}:cert/${certificateId}`;
}

/**
 * The certificate id inside `arn`, or undefined when `arn` is not a certificate ARN of this region and
 * account (AWS IoT would not find such a certificate either).
 */
export function certificateIdFromArn(scope: ArnScope, arn: string): string | undefined {
  const prefix = certificateArn(scope, '');
  if (!arn.startsWith(prefix)) {
    return undefined;
  }
  const id = arn.slice(prefix.length);
  return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}
