/**
 * CDK context values of the app (`cdk deploy -c rateLimit=500`) reach the construct, and bad ones stop the synth
 * with a message naming the key. Only the construct tree is built: no synth, and bundling is skipped.
 */
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createCvmApp, type CvmApp } from '../../infra/cvm-app.ts';
import { DEFAULT_RATE_LIMIT } from '../../infra/api-rate-limit.ts';
import { scratchAppProps, type ScratchApp } from './cdk-support.ts';

const FLEET_WEB_ACL_ARN = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/fleet/0123abcd';

let scratch: ScratchApp | undefined;

afterEach(() => {
  scratch?.cleanUp();
  scratch = undefined;
});

/** The app built with these context values, as `-c key=value` (strings) or cdk.json (any JSON) give them. */
function appWith(context: Record<string, unknown>): CvmApp {
  // An empty list of stacks to bundle: the resolver is not bundled, which the construct tree does not need.
  scratch = scratchAppProps({ 'aws:cdk:bundling-stacks': [], ...context });
  return createCvmApp(scratch.props, {});
}

function rateLimitOf({ stack }: CvmApp): number | undefined {
  const rules = stack.resolve(stack.cvm.webAcl?.rules) as
    | { statement: { rateBasedStatement: { limit: number } } }[]
    | undefined;
  return rules?.[0]?.statement.rateBasedStatement.limit;
}

describe('createCvmApp context', () => {
  it.each([
    { name: 'no rateLimit', context: {}, limit: DEFAULT_RATE_LIMIT },
    { name: '-c rateLimit=500', context: { rateLimit: '500' }, limit: 500 },
    { name: 'rateLimit 750 in cdk.json', context: { rateLimit: 750 }, limit: 750 },
  ])('creates a web ACL at the limit given by $name', ({ context, limit }) => {
    expect(rateLimitOf(appWith(context))).toBe(limit);
  });

  it.each([
    { name: '-c rateLimit=false', context: { rateLimit: 'false' } },
    { name: '-c rateLimit=FALSE', context: { rateLimit: 'FALSE' } },
    { name: 'rateLimit false in cdk.json', context: { rateLimit: false } },
  ])('creates no web ACL with $name', ({ context }) => {
    const { stack } = appWith(context);
    expect(stack.cvm.webAcl).toBeUndefined();
    expect(stack.cvm.webAclArn).toBeUndefined();
  });

  it('associates the web ACL given by -c webAclArn instead of creating one', () => {
    const { stack } = appWith({ webAclArn: FLEET_WEB_ACL_ARN });
    expect(stack.cvm.webAcl).toBeUndefined();
    expect(stack.cvm.webAclArn).toBe(FLEET_WEB_ACL_ARN);
  });

  it.each([
    { name: 'no reservedConcurrency', context: {}, reserved: undefined },
    { name: '-c reservedConcurrency=50', context: { reservedConcurrency: '50' }, reserved: 50 },
  ])('reserves the Lambda concurrency given by $name', ({ context, reserved }) => {
    const { stack } = appWith(context);
    const fn = stack.cvm.resolverFunction.node.defaultChild as CfnFunction;
    expect(fn.reservedConcurrentExecutions).toBe(reserved);
  });

  it.each([
    { name: 'the default quota', context: {}, reserved: 16 },
    { name: '-c iotCertificateRate=50', context: { iotCertificateRate: '50' }, reserved: 51 },
  ])('caps requestCertificate from $name', ({ context, reserved }) => {
    const { stack } = appWith(context);
    const fn = stack.cvm.issuerFunction.node.defaultChild as CfnFunction;
    expect(fn.reservedConcurrentExecutions).toBe(reserved);
  });

  it.each([
    { context: { rateLimit: 'lots' }, error: /Context "rateLimit" must be a whole number or false, not "lots"/ },
    { context: { rateLimit: true }, error: /Context "rateLimit" must be a whole number or false, not true/ },
    { context: { rateLimit: ' ' }, error: /Context "rateLimit" must be a whole number or false/ },
    { context: { rateLimit: '5' }, error: /rateLimit must be a whole number .* from 10/ },
    { context: { rateLimit: '1000', webAclArn: FLEET_WEB_ACL_ARN }, error: /not both/ },
    { context: { rateLimit: 'false', webAclArn: FLEET_WEB_ACL_ARN }, error: /not both/ },
    { context: { webAclArn: 42 }, error: /Context "webAclArn" must be a string/ },
    { context: { webAclArn: 'fleet' }, error: /not a regional AWS WAF web ACL ARN/ },
    { context: { reservedConcurrency: 'some' }, error: /Context "reservedConcurrency" must be a whole number/ },
    { context: { reservedConcurrency: '0' }, error: /reservedConcurrency must be a whole number from 1/ },
  ])('rejects $context', ({ context, error }) => {
    expect(() => appWith(context)).toThrow(error);
  });
});
