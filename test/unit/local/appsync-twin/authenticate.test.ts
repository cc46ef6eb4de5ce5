import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../../local/appsync-twin/authenticate.ts';
import type { IncomingRequest } from '../../../../local/appsync-twin/authenticate.ts';
import { signAppSyncRequest } from '../../../../client/sigv4.ts';
import { issueTemporaryCredentials, verifySessionToken } from '../../../../local/session-credentials.ts';

const NOW = new Date('2025-03-04T05:06:07Z');
const URL_ = 'https://127.0.0.1:4443/graphql';
const BODY = '{"query":"{ devices { items { serialNumber } } }"}';
const ADMIN = {
  accessKeyId: 'AKIDLOCALADMIN000001',
  secretAccessKey: 'local-secret-key-for-tests-only',
  userArn: 'arn:aws:iam::000000000000:user/cvm-local-admin',
  accountId: '000000000000',
};

let now = NOW;
const authenticate = createAuthenticator({
  region: 'us-east-1',
  apiKeys: ['da2-devicekey'],
  adminCredentials: [ADMIN],
  now: () => now,
  // As the local stack wires it: sessions derived from the admin's secret stand for the admin.
  resolveSession: (accessKeyId, sessionToken, at) => {
    const session = verifySessionToken(ADMIN.secretAccessKey, accessKeyId, sessionToken, at);
    if (!session.valid) return { refused: session.reason };
    return { ...ADMIN, accessKeyId, secretAccessKey: session.secretAccessKey };
  },
});

function request(headers: Record<string, string>, body = BODY): IncomingRequest {
  return { method: 'POST', path: '/graphql', query: '', headers, body: Buffer.from(body), remoteAddress: '127.0.0.1' };
}

async function signed(
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = ADMIN,
  body = BODY,
  signingDate = NOW,
): Promise<Record<string, string>> {
  return signAppSyncRequest({ url: URL_, body, region: 'us-east-1', credentials, signingDate });
}

const SESSION = issueTemporaryCredentials(ADMIN.secretAccessKey, NOW, 900);
const SIX_MINUTES_MS = 6 * 60 * 1000;

describe('createAuthenticator', () => {
  it('lets a known API key in with the API_KEY mode and no identity', async () => {
    expect(await authenticate(request({ 'x-api-key': 'da2-devicekey' }))).toEqual({
      ok: true,
      caller: { mode: 'API_KEY', identity: null },
    });
  });

  it('lets a signed request in with the AWS_IAM mode and an IAM identity like AppSync passes', async () => {
    expect(await authenticate(request(await signed()))).toEqual({
      ok: true,
      caller: {
        mode: 'AWS_IAM',
        identity: {
          userArn: ADMIN.userArn,
          accountId: ADMIN.accountId,
          username: ADMIN.accessKeyId,
          sourceIp: ['127.0.0.1'],
        },
      },
    });
  });

  it('uses the signature, not the API key, when a request carries both', async () => {
    const outcome = await authenticate(request({ ...(await signed()), 'x-api-key': 'da2-devicekey' }));

    expect(outcome).toMatchObject({ ok: true, caller: { mode: 'AWS_IAM' } });
  });

  const refusals: [string, () => Promise<Record<string, string>>, string | undefined, number, string, RegExp][] = [
    [
      'no credentials',
      () => Promise.resolve({}),
      undefined,
      401,
      'UnauthorizedException',
      /^Valid authorization header not provided\.$/,
    ],
    [
      'a bearer token',
      () => Promise.resolve({ authorization: 'Bearer abc' }),
      undefined,
      401,
      'UnauthorizedException',
      /^Valid authorization header not provided\.$/,
    ],
    [
      'an unknown API key',
      () => Promise.resolve({ 'x-api-key': 'da2-other' }),
      undefined,
      401,
      'UnauthorizedException',
      /^You are not authorized to make this call\.$/,
    ],
    [
      'a signature over another body',
      () => signed(),
      '{"query":"{ __typename }"}',
      403,
      'InvalidSignatureException',
      /does not match/,
    ],
    [
      'a signature with a wrong secret',
      () => signed({ ...ADMIN, secretAccessKey: 'wrong' }),
      undefined,
      403,
      'InvalidSignatureException',
      /does not match/,
    ],
    [
      'an unknown access key',
      () => signed({ ...ADMIN, accessKeyId: 'AKIDNOBODY0000000001' }),
      undefined,
      403,
      'UnrecognizedClientException',
      /^The security token included in the request is invalid\.$/,
    ],
    [
      'a truncated signature header',
      () => Promise.resolve({ authorization: 'AWS4-HMAC-SHA256 Credential=x' }),
      undefined,
      403,
      'IncompleteSignatureException',
      /requires 'SignedHeaders'/,
    ],
    [
      'a request signed more than 5 minutes ago',
      () => signed(ADMIN, BODY, new Date(NOW.getTime() - SIX_MINUTES_MS)),
      undefined,
      400,
      'BadRequestException',
      /^Signature expired: /,
    ],
    [
      'a request signed more than 5 minutes ahead',
      () => signed(ADMIN, BODY, new Date(NOW.getTime() + SIX_MINUTES_MS)),
      undefined,
      400,
      'BadRequestException',
      /^Signature not yet current: /,
    ],
    [
      'a session token that belongs to other temporary credentials',
      () => signed({ ...SESSION, sessionToken: issueTemporaryCredentials(ADMIN.secretAccessKey, NOW).sessionToken }),
      undefined,
      403,
      'UnrecognizedClientException',
      /invalid/,
    ],
    [
      'a long-term key sent with a session token',
      () => signed({ ...ADMIN, sessionToken: SESSION.sessionToken }),
      undefined,
      403,
      'UnrecognizedClientException',
      /invalid/,
    ],
    [
      'temporary credentials made with another secret',
      () => signed(issueTemporaryCredentials('another-secret', NOW)),
      undefined,
      403,
      'UnrecognizedClientException',
      /invalid/,
    ],
  ];

  it('lets temporary credentials in as the admin while they are valid, and refuses them once expired', async () => {
    const whileValid = await authenticate(request(await signed(SESSION)));
    now = new Date(SESSION.expiration.getTime() + 1000);
    try {
      const afterExpiry = await authenticate(request(await signed(SESSION, BODY, now)));

      expect(whileValid).toMatchObject({ ok: true, caller: { mode: 'AWS_IAM', identity: { userArn: ADMIN.userArn } } });
      expect(afterExpiry).toMatchObject({ ok: false, status: 403, errorType: 'ExpiredTokenException' });
    } finally {
      now = NOW;
    }
  });

  it.each(refusals)('refuses %s', async (_case, headers, body, status, errorType, message) => {
    const outcome = await authenticate(request(await headers(), body));

    expect(outcome).toMatchObject({ ok: false, status, errorType });
    expect(outcome.ok === false && outcome.message).toMatch(message);
  });
});
