import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { createSigV4Verifier } from '../../../../local/appsync-twin/sigv4-verifier.ts';
import type { SignedHttpRequest } from '../../../../local/appsync-twin/sigv4-verifier.ts';

const SIGNED_AT = new Date('2025-03-04T05:06:07Z');
const ADMIN = {
  accessKeyId: 'AKIDLOCALADMIN000001',
  secretAccessKey: 'local-secret-key-for-tests-only',
  label: 'admin',
};
const HOST = '127.0.0.1:4443';
const BODY = JSON.stringify({ query: '{ device(serialNumber: "SN-1") { status } }' });

interface SigningChoices {
  region?: string;
  service?: string;
  accessKeyId?: string;
  signingDate?: Date;
  /** Headers present while signing; host is left out to produce a request that does not sign it. */
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/** A request as the twin would receive it, signed by @smithy/signature-v4 the way AWS SDKs sign. */
async function signedRequest(
  choices: SigningChoices = {},
): Promise<SignedHttpRequest & { headers: Record<string, string> }> {
  const signer = new SignatureV4({
    service: choices.service ?? 'appsync',
    region: choices.region ?? 'us-east-1',
    credentials: { accessKeyId: choices.accessKeyId ?? ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey },
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'https:',
      hostname: '127.0.0.1',
      path: '/graphql',
      query: choices.query ?? {},
      headers: choices.headers ?? { host: HOST, 'content-type': 'application/json' },
      body: BODY,
    }),
    { signingDate: choices.signingDate ?? SIGNED_AT },
  );
  const headers: Record<string, string> = { host: HOST };
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = String(value);
  const query = Object.entries(choices.query ?? {})
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
  return { method: 'POST', path: '/graphql', query, headers, body: Buffer.from(BODY) };
}

function verifierAt(now: Date) {
  return createSigV4Verifier({ region: 'us-east-1', credentials: [ADMIN], now: () => now });
}

const verify = verifierAt(new Date(SIGNED_AT.getTime() + 30_000));

describe('createSigV4Verifier', () => {
  it('accepts a request signed by @smithy/signature-v4 and names the credential', async () => {
    const verdict = await verify(await signedRequest());

    expect(verdict).toEqual({ valid: true, credential: ADMIN });
  });

  it('accepts a signed payload hash that matches the body', async () => {
    const sha = createHash('sha256').update(BODY).digest('hex');
    const request = await signedRequest({
      headers: { host: HOST, 'content-type': 'application/json', 'x-amz-content-sha256': sha },
    });

    expect((await verify(request)).valid).toBe(true);
  });

  it('accepts a signed query string', async () => {
    const request = await signedRequest({ query: { b: 'two words', a: '1' } });

    expect(request.query).not.toBe('');
    expect((await verify(request)).valid).toBe(true);
  });

  type Tamper = (request: SignedHttpRequest & { headers: Record<string, string> }) => SignedHttpRequest;
  const tamperings: [string, Tamper, string, RegExp][] = [
    [
      'fail/altered-body',
      (r) => ({ ...r, body: Buffer.from(BODY.replace('SN-1', 'SN-2')) }),
      'InvalidSignatureException',
      /does not match/,
    ],
    [
      'fail/altered-signed-header',
      (r) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/plain' } }),
      'InvalidSignatureException',
      /does not match/,
    ],
    [
      'fail/altered-host',
      (r) => ({ ...r, headers: { ...r.headers, host: '127.0.0.1:9999' } }),
      'InvalidSignatureException',
      /does not match/,
    ],
    ['fail/altered-method', (r) => ({ ...r, method: 'PUT' }), 'InvalidSignatureException', /does not match/],
    ['fail/altered-path', (r) => ({ ...r, path: '/graphql/' }), 'InvalidSignatureException', /does not match/],
    ['fail/added-query', (r) => ({ ...r, query: 'x=1' }), 'InvalidSignatureException', /does not match/],
    [
      'fail/forged-signature',
      (r) => ({
        ...r,
        headers: {
          ...r.headers,
          authorization: r.headers['authorization']!.replace(/Signature=\w+/, `Signature=${'0'.repeat(64)}`),
        },
      }),
      'InvalidSignatureException',
      /does not match/,
    ],
    [
      'fail/missing-signature-part',
      (r) => ({
        ...r,
        headers: { ...r.headers, authorization: r.headers['authorization']!.replace(/, Signature=\w+/, '') },
      }),
      'IncompleteSignatureException',
      /requires 'Signature'/,
    ],
    [
      'fail/session-token-of-unknown-credentials',
      (r) => ({ ...r, headers: { ...r.headers, 'x-amz-security-token': 'token' } }),
      'UnrecognizedClientException',
      /security token included in the request is invalid/,
    ],
    [
      'fail/signed-header-removed',
      (r) => {
        const { 'content-type': _removed, ...headers } = r.headers;
        return { ...r, headers };
      },
      'IncompleteSignatureException',
      /'content-type' is named as a SignedHeader/,
    ],
  ];

  it.each(tamperings)('rejects %s', async (_name, tamper, errorType, message) => {
    const verdict = await verify(tamper(await signedRequest()));

    expect(verdict).toMatchObject({ valid: false, errorType });
    expect(verdict.valid === false && verdict.message).toMatch(message);
  });

  const signings: [string, SigningChoices, string, RegExp][] = [
    [
      'fail/wrong-region',
      { region: 'eu-west-1' },
      'InvalidSignatureException',
      /scoped to a valid region, not 'eu-west-1'/,
    ],
    [
      'fail/wrong-service',
      { service: 'execute-api' },
      'InvalidSignatureException',
      /scoped to correct service: 'appsync'/,
    ],
    ['fail/unknown-access-key', { accessKeyId: 'AKIDSOMEONEELSE00001' }, 'UnrecognizedClientException', /invalid/],
    [
      'fail/host-not-signed',
      { headers: { 'content-type': 'application/json' } },
      'IncompleteSignatureException',
      /'Host'.*must be a 'SignedHeader'/,
    ],
  ];

  it.each(signings)('rejects %s', async (_name, choices, errorType, message) => {
    const verdict = await verify(await signedRequest(choices));

    expect(verdict).toMatchObject({ valid: false, errorType });
    expect(verdict.valid === false && verdict.message).toMatch(message);
  });

  const clocks: [string, number, RegExp][] = [
    [
      'fail/stale-date',
      5 * 60_000 + 1_000,
      /^Signature expired: 20250304T050607Z is now earlier than 20250304T050608Z/,
    ],
    ['fail/future-date', -(5 * 60_000 + 1_000), /^Signature not yet current: 20250304T050607Z is still later than/],
  ];

  it.each(clocks)('rejects %s', async (_name, nowMinusSigningMs, message) => {
    const verdict = await verifierAt(new Date(SIGNED_AT.getTime() + nowMinusSigningMs))(await signedRequest());

    expect(verdict).toMatchObject({ valid: false, errorType: 'InvalidSignatureException' });
    expect(verdict.valid === false && verdict.message).toMatch(message);
  });

  it('accepts a date just inside the five-minute window', async () => {
    const verdict = await verifierAt(new Date(SIGNED_AT.getTime() + 5 * 60_000 - 1_000))(await signedRequest());

    expect(verdict.valid).toBe(true);
  });

  it('rejects a payload hash header that does not match the body', async () => {
    const request = await signedRequest({
      headers: { host: HOST, 'content-type': 'application/json', 'x-amz-content-sha256': 'ab'.repeat(32) },
    });

    expect(await verify(request)).toMatchObject({ valid: false, errorType: 'InvalidSignatureException' });
  });
});
