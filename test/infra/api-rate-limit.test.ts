/**
 * The rate-limit web ACL on its own (a bare stack, no Lambda to bundle): what WAF answers when it blocks, as the
 * cvm client sees it over HTTPS, and the checks on rateLimit and webAclArn.
 */
import { App, Lazy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphqlError, isRetryable } from '../../client/errors.ts';
import { createGraphqlClient } from '../../client/graphql-client.ts';
import {
  createRateLimitWebAcl,
  RATE_LIMIT_BOUNDS,
  validateRateLimit,
  validateWebAclArn,
} from '../../infra/api-rate-limit.ts';
import { startTestGraphqlServer, type TestGraphqlServer } from '../unit/client/support/https-graphql-server.ts';

interface BlockAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** What the web ACL's rate rule answers a blocked request with, read from the synthesized template. */
function blockAnswerOf(template: Template): BlockAnswer {
  const [webAcl] = Object.values(template.findResources('AWS::WAFv2::WebACL')) as {
    Properties: {
      Rules: { Action: { Block: { CustomResponse: { ResponseCode: number; CustomResponseBodyKey: string } } } }[];
      CustomResponseBodies: Record<string, { ContentType: string; Content: string }>;
    };
  }[];
  const response = webAcl?.Properties.Rules[0]?.Action.Block.CustomResponse;
  const body = webAcl?.Properties.CustomResponseBodies[response?.CustomResponseBodyKey ?? ''];
  if (response === undefined || body === undefined) throw new Error('the rate rule has no custom response');
  return { status: response.ResponseCode, contentType: body.ContentType, body: body.Content };
}

describe('createRateLimitWebAcl', () => {
  let template: Template;

  beforeAll(() => {
    const stack = new Stack(new App(), 'RateLimit');
    createRateLimitWebAcl(stack, 'WebAcl', { limit: 1234, name: 'RateLimit-cvm' });
    template = Template.fromStack(stack);
  });

  it('counts requests per source IP address over 5 minutes and blocks an address over the limit', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Name: 'RateLimit-cvm',
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: [
        {
          Name: 'RequestsPerSourceIp',
          Priority: 0,
          Statement: { RateBasedStatement: { Limit: 1234, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
          Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'RateLimited' } } },
          VisibilityConfig: {
            CloudWatchMetricsEnabled: true,
            SampledRequestsEnabled: true,
            MetricName: 'RateLimit-cvm-RequestsPerSourceIp',
          },
        },
      ],
      VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: 'RateLimit-cvm' },
    });
  });

  it('answers a blocked request with HTTP 429 and a GraphQL error of type Throttled', () => {
    const answer = blockAnswerOf(template);
    expect(answer.status).toBe(429);
    expect(answer.contentType).toBe('APPLICATION_JSON');
    expect(JSON.parse(answer.body)).toEqual({
      data: null,
      errors: [{ errorType: 'Throttled', message: expect.stringMatching(/retry/) as unknown }],
    });
  });

  describe('as the cvm client sees a blocked request', () => {
    let server: TestGraphqlServer;

    beforeAll(async () => {
      const answer = blockAnswerOf(template);
      server = await startTestGraphqlServer(() => ({ status: answer.status, text: answer.body }));
    });

    afterAll(() => server?.close());

    it('fails with Throttled, which the client retries with backoff', async () => {
      const client = createGraphqlClient({
        url: server.url,
        ca: server.caPem,
        auth: { kind: 'apiKey', apiKey: 'da2-test' },
      });
      const error: unknown = await client.request('{ __typename }').then(
        () => undefined,
        (thrown: unknown) => thrown,
      );

      // A GraphqlError, not an HttpError: the client read WAF's body as a GraphQL answer.
      expect(error).toBeInstanceOf(GraphqlError);
      expect(error).toMatchObject({
        errorType: 'Throttled',
        message: expect.stringMatching(/Too many requests/) as unknown,
      });
      expect(isRetryable(error)).toBe(true);
    });
  });
});

describe('validateRateLimit', () => {
  it.each([RATE_LIMIT_BOUNDS.min, 2000, RATE_LIMIT_BOUNDS.max])('accepts %d', (limit) => {
    expect(() => validateRateLimit(limit)).not.toThrow();
  });

  it.each([0, RATE_LIMIT_BOUNDS.min - 1, RATE_LIMIT_BOUNDS.max + 1, 99.5, Number.NaN])('rejects %d', (limit) => {
    expect(() => validateRateLimit(limit)).toThrow(/rateLimit must be a whole number .* from 10 to 2000000000/);
  });
});

describe('validateWebAclArn', () => {
  const anywhere = new Stack(new App(), 'Anywhere');
  const inIreland = new Stack(new App(), 'InIreland', { env: { account: '123456789012', region: 'eu-west-1' } });
  const irish = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/fleet-acl/0123abcd-0123-4567-89ab-0123456789ab';

  it.each([
    { name: 'a regional web ACL in an environment-agnostic stack', arn: irish, stack: anywhere },
    { name: 'a regional web ACL in the stack region', arn: irish, stack: inIreland },
    {
      name: 'a regional web ACL of another partition',
      arn: 'arn:aws-cn:wafv2:cn-north-1:123456789012:regional/webacl/fleet/abc',
      stack: anywhere,
    },
    { name: 'an ARN known only at deploy time', arn: Lazy.string({ produce: () => 'fleet-acl' }), stack: inIreland },
  ])('accepts $name', ({ arn, stack }) => {
    expect(() => validateWebAclArn(arn, stack)).not.toThrow();
  });

  it.each([
    {
      name: 'a CloudFront web ACL',
      arn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/abc',
      error: /regional/,
    },
    { name: 'an ARN of another service', arn: 'arn:aws:appsync:eu-west-1:123456789012:apis/abc', error: /regional/ },
    { name: 'a name instead of an ARN', arn: 'fleet-acl', error: /regional/ },
    {
      name: 'a web ACL in another region',
      arn: irish.replace('eu-west-1', 'eu-central-1'),
      error: /eu-central-1 but the stack deploys to eu-west-1/,
    },
  ])('rejects $name', ({ arn, error }) => {
    expect(() => validateWebAclArn(arn, inIreland)).toThrow(error);
  });
});
