/**
 * The AWS WAF web ACL in front of the GraphQL API: one rate-based rule counting requests per source IP address.
 * The device API key ships in firmware, so anyone who extracts it can send wrong registration tokens for serials
 * they can guess (five lock a device that has not enrolled) and burn Lambda concurrency; WAF counts before AppSync
 * authorizes, so it also slows requests with no key at all.
 */
import { Token, type Stack } from 'aws-cdk-lib';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import type { ErrorType } from '../contract/error-types.ts';

/**
 * Requests per 5 minutes per source IP address. A factory line enrolling a device every 2 s sends 150
 * requestCertificate calls in 5 minutes (a few more when the client retries); an admin importing 10,000 devices
 * sends 100 registerDevices calls, plus a few hundred list and lookup calls around them. 2,000 leaves room for
 * about ten such lines and an import behind one NAT address, while one address can try at most 2,000 tokens in 5
 * minutes (about 7 Lambda invocations a second) instead of as many as Lambda and AppSync will take.
 */
export const DEFAULT_RATE_LIMIT = 2_000;

/** WAF's bounds for a rate-based rule's limit. */
export const RATE_LIMIT_BOUNDS = { min: 10, max: 2_000_000_000 } as const;

/** WAF counts over a trailing window of 60, 120, 300 or 600 s; cvm's limit is per 5 minutes. */
const RATE_LIMIT_WINDOW_SECONDS = 300;

const RATE_LIMIT_RULE_NAME = 'RequestsPerSourceIp';

/**
 * Blocked requests get 429 with a GraphQL error of type Throttled, which cvm clients already retry with backoff
 * (WAF's default would be 403, which they treat as final). The type is one of the resolver's own, so any client
 * written against the schema's error table handles it.
 */
const RATE_LIMITED_STATUS = 429;
const RATE_LIMITED_ERROR_TYPE: ErrorType = 'Throttled';
const RATE_LIMITED_BODY = JSON.stringify({
  data: null,
  errors: [
    {
      errorType: RATE_LIMITED_ERROR_TYPE,
      message: 'Too many requests from this address; slow down and retry in a few minutes.',
    },
  ],
});
const RATE_LIMITED_BODY_KEY = 'RateLimited';

/** A regional AWS WAF web ACL ARN: arn:<partition>:wafv2:<region>:<account>:regional/webacl/<name>/<id>. */
const REGIONAL_WEB_ACL_ARN_PATTERN =
  /^arn:aws[a-z-]*:wafv2:([a-z0-9-]+):\d{12}:regional\/webacl\/[\w-]{1,128}\/[\w-]+$/;

export interface ApiRateLimitProps {
  /** Requests per 5 minutes per source IP address. */
  readonly limit: number;
  /** The web ACL's name and CloudWatch metric name prefix. */
  readonly name: string;
}

/** A REGIONAL web ACL that allows everything except an address over `limit`, with metrics and sampled requests. */
export function createRateLimitWebAcl(scope: Construct, id: string, props: ApiRateLimitProps): wafv2.CfnWebACL {
  return new wafv2.CfnWebACL(scope, id, {
    name: props.name,
    description: 'cvm: per-source-IP rate limit on the GraphQL API',
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    customResponseBodies: {
      [RATE_LIMITED_BODY_KEY]: { contentType: 'APPLICATION_JSON', content: RATE_LIMITED_BODY },
    },
    rules: [
      {
        name: RATE_LIMIT_RULE_NAME,
        priority: 0,
        statement: {
          rateBasedStatement: {
            limit: props.limit,
            aggregateKeyType: 'IP',
            evaluationWindowSec: RATE_LIMIT_WINDOW_SECONDS,
          },
        },
        action: {
          block: {
            customResponse: { responseCode: RATE_LIMITED_STATUS, customResponseBodyKey: RATE_LIMITED_BODY_KEY },
          },
        },
        visibilityConfig: {
          cloudWatchMetricsEnabled: true,
          sampledRequestsEnabled: true,
          metricName: `${props.name}-${RATE_LIMIT_RULE_NAME}`,
        },
      },
    ],
    visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: props.name },
  });
}

/** Throws unless `limit` is a whole number WAF accepts as a rate limit. */
export function validateRateLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < RATE_LIMIT_BOUNDS.min || limit > RATE_LIMIT_BOUNDS.max) {
    throw new Error(
      `rateLimit must be a whole number of requests per 5 minutes from ${RATE_LIMIT_BOUNDS.min} to ` +
        `${RATE_LIMIT_BOUNDS.max} (WAF's bounds), or false for no web ACL, not ${limit}.`,
    );
  }
}

/**
 * Throws unless `arn` names a regional web ACL (AppSync cannot use a CloudFront one) in the stack's region, when
 * both are known at synth.
 */
export function validateWebAclArn(arn: string, stack: Stack): void {
  if (Token.isUnresolved(arn)) return;
  const match = REGIONAL_WEB_ACL_ARN_PATTERN.exec(arn);
  if (match === null) {
    throw new Error(
      `webAclArn "${arn}" is not a regional AWS WAF web ACL ARN ` +
        '(arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>); AppSync cannot use a CloudFront (global) one.',
    );
  }
  const region = match[1];
  if (!Token.isUnresolved(stack.region) && region !== stack.region) {
    throw new Error(
      `webAclArn is in ${region} but the stack deploys to ${stack.region}; AppSync needs one in its own region.`,
    );
  }
}
