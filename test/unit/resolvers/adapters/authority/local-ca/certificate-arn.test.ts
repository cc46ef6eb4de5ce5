import { describe, expect, it } from 'vitest';
import {
  certificateArn,
  certificateIdFromArn,
} from '../../../../../../resolvers/adapters/authority/local-ca/certificate-arn.ts';

const SCOPE = { region: 'eu-west-1', accountId: '123456789012' };
const ID = 'a'.repeat(64);

describe('certificateArn', () => {
  it('has the form AWS IoT gives certificate ARNs', () => {
    expect(certificateArn(SCOPE, ID)).toBe(`arn:aws:iot:eu-west-1:123456789012:cert/${ID}`);
  });
});

describe('certificateIdFromArn', () => {
  it('reads the id back out of an ARN of the same region and account', () => {
    expect(certificateIdFromArn(SCOPE, certificateArn(SCOPE, ID))).toBe(ID);
  });

  it.each([
    ['another region', `arn:aws:iot:us-east-1:123456789012:cert/${ID}`],
    ['another account', `arn:aws:iot:eu-west-1:000000000000:cert/${ID}`],
    ['another resource type', `arn:aws:iot:eu-west-1:123456789012:thing/${ID}`],
    ['an id that is not 64 lowercase hex digits', `arn:aws:iot:eu-west-1:123456789012:cert/${'A'.repeat(64)}`],
    ['a path in the id', `arn:aws:iot:eu-west-1:123456789012:cert/../${ID}`],
    ['no ARN at all', ID],
  ])('finds nothing in %s', (_case, arn) => {
    expect(certificateIdFromArn(SCOPE, arn)).toBeUndefined();
  });
});
