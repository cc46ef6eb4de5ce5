/**
 * Verifies an AWS Signature Version 4 `Authorization` header the way an AWS front door does for AppSync's
 * AWS_IAM mode: the credential scope names a known access key, today's date, our region and the `appsync`
 * service; `x-amz-date` is within five minutes of now; `host` is signed; and the signature, recomputed over
 * the exact request (method, path, query, the signed headers, the body hash) with @smithy/signature-v4,
 * matches in a constant-time comparison.
 *
 * The error types and messages are those AWS services answer (public AWS SDK and AppSync client issues show
 * them verbatim): InvalidSignatureException for a wrong or expired signature, UnrecognizedClientException for
 * an unknown access key, IncompleteSignatureException for a header that is missing parts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
const FIVE_MINUTES_MS = 5 * 60 * 1000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export type SigV4ErrorType =
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException'
  | 'ExpiredTokenException';

/** What was wrong, for callers that answer each kind differently (AppSync answers clock skew apart). */
export type SigV4FailureKind = 'malformed' | 'unknown-key' | 'expired-token' | 'clock-skew' | 'mismatch';

export interface SigV4Credential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The parts of an HTTP request a signature covers, as they arrived. */
export interface SignedHttpRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded, without the query. */
  readonly path: string;
  /** The query as sent, without `?`; empty when there is none. */
  readonly query: string;
  /** Node's incoming headers: lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Uint8Array;
}

export type SigV4Verdict<C extends SigV4Credential> = { readonly valid: true; readonly credential: C } | Rejection;

export interface SigV4VerifierOptions<C extends SigV4Credential> {
  readonly region: string;
  /** Default: appsync. */
  readonly service?: string;
  readonly credentials: readonly C[];
  /** Default: the system clock. Tests pin it. */
  readonly now?: () => Date;
  /** Default: 5 minutes, the allowance AWS gives. */
  readonly maxClockSkewMs?: number;
  /**
   * Temporary credentials: the credential for an access key that came with `x-amz-security-token`, or why not.
   * Default: none, so any session token is refused as an unknown key.
   */
  readonly resolveSession?: (accessKeyId: string, sessionToken: string, now: Date) => C | SessionRefusal;
}

export type SessionRefusal = { readonly refused: 'invalid' | 'expired' };

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly scopeRegion: string;
  readonly scopeService: string;
  readonly scopeTerminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

type Rejection = {
  readonly valid: false;
  readonly errorType: SigV4ErrorType;
  readonly kind: SigV4FailureKind;
  readonly message: string;
};

const KIND_OF: Readonly<Record<SigV4ErrorType, SigV4FailureKind>> = {
  IncompleteSignatureException: 'malformed',
  InvalidSignatureException: 'mismatch',
  UnrecognizedClientException: 'unknown-key',
  ExpiredTokenException: 'expired-token',
};

const reject = (errorType: SigV4ErrorType, message: string, kind = KIND_OF[errorType]): Rejection => ({
  valid: false,
  errorType,
  kind,
  message,
});

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const UNKNOWN_KEY = 'The security token included in the request is invalid.';
const EXPIRED_TOKEN = 'The security token included in the request is expired';

function headerValue(headers: SignedHttpRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : (value as string | undefined);
}

function parseAuthorization(header: string): ParsedAuthorization | Rejection {
  const [algorithm, ...rest] = header.trim().split(/\s+/);
  if (algorithm !== SIGV4_ALGORITHM)
    return reject('IncompleteSignatureException', `Unsupported algorithm ${algorithm}.`);
  const parameters = new Map<string, string>();
  for (const part of rest.join(' ').split(',')) {
    const separator = part.indexOf('=');
    if (separator > 0) parameters.set(part.slice(0, separator).trim(), part.slice(separator + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((name) => !parameters.get(name));
  if (missing.length > 0) {
    const message = missing.map((name) => `Authorization header requires '${name}' parameter.`).join(' ');
    return reject('IncompleteSignatureException', message);
  }
  const scope = parameters.get('Credential')!.split('/');
  if (scope.length !== 5) {
    return reject('IncompleteSignatureException', 'Credential must have exactly 5 slash-delimited elements.');
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService, scopeTerminator] = scope as [
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    accessKeyId,
    scopeDate,
    scopeRegion,
    scopeService,
    scopeTerminator,
    signedHeaders: parameters.get('SignedHeaders')!.split(';'),
    signature: parameters.get('Signature')!,
  };
}

function parseAmzDate(value: string): Date | undefined {
  const match = AMZ_DATE.exec(value);
  if (match === null) return undefined;
  const [, year, month, day, hours, minutes, seconds] = match.map(Number) as [number, ...number[]];
  const date = new Date(Date.UTC(year!, month! - 1, day, hours, minutes, seconds));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
}

function decodeQueryComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // A malformed escape cannot have been produced by a signer; keep it as sent and let the signature decide.
    return text;
  }
}

function parseQuery(query: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const key = decodeQueryComponent(separator < 0 ? pair : pair.slice(0, separator));
    const value = separator < 0 ? '' : decodeQueryComponent(pair.slice(separator + 1));
    const existing = result[key];
    result[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return result;
}

function sameSignature(expected: string, provided: string): boolean {
  const expectedBytes = Buffer.from(expected, 'utf8');
  const providedBytes = Buffer.from(provided, 'utf8');
  return expectedBytes.length === providedBytes.length && timingSafeEqual(expectedBytes, providedBytes);
}

function signatureOf(authorization: string): { signedHeaders: string; signature: string } {
  const signedHeaders = /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1] ?? '';
  const signature = /Signature=([0-9a-f]+)/.exec(authorization)?.[1] ?? '';
  return { signedHeaders, signature };
}

/** A function that checks one request's SigV4 signature against the known credentials. */
export function createSigV4Verifier<C extends SigV4Credential>(
  options: SigV4VerifierOptions<C>,
): (request: SignedHttpRequest) => Promise<SigV4Verdict<C>> {
  const { region, service = 'appsync', now = () => new Date(), maxClockSkewMs = FIVE_MINUTES_MS } = options;
  const { resolveSession } = options;
  const credentialsById = new Map(options.credentials.map((credential) => [credential.accessKeyId, credential]));
  const skewMinutes = Math.round(maxClockSkewMs / 60_000);

  return async (request) => {
    const authorization = headerValue(request.headers, 'authorization');
    if (authorization === undefined) return reject('IncompleteSignatureException', 'Authorization header is missing.');
    const parsed = parseAuthorization(authorization);
    if ('valid' in parsed) return parsed;

    const sessionToken = headerValue(request.headers, 'x-amz-security-token');
    let credential: C | undefined;
    if (sessionToken === undefined) {
      credential = credentialsById.get(parsed.accessKeyId);
    } else if (resolveSession !== undefined) {
      // A session token makes these temporary credentials; long-term keys never come with one.
      const session = resolveSession(parsed.accessKeyId, sessionToken, now());
      if ('refused' in session) {
        return session.refused === 'expired'
          ? reject('ExpiredTokenException', EXPIRED_TOKEN)
          : reject('UnrecognizedClientException', UNKNOWN_KEY);
      }
      credential = session;
    }
    if (credential === undefined) return reject('UnrecognizedClientException', UNKNOWN_KEY);
    if (parsed.scopeRegion !== region) {
      return reject(
        'InvalidSignatureException',
        `Credential should be scoped to a valid region, not '${parsed.scopeRegion}'.`,
      );
    }
    if (parsed.scopeService !== service) {
      return reject('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
    }
    if (parsed.scopeTerminator !== 'aws4_request') {
      return reject(
        'InvalidSignatureException',
        "Credential should be scoped with a valid terminator: 'aws4_request'.",
      );
    }

    const signedHeaders = parsed.signedHeaders.map((name) => name.toLowerCase());
    if (!signedHeaders.includes('host')) {
      return reject(
        'IncompleteSignatureException',
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      );
    }
    for (const name of signedHeaders) {
      if (headerValue(request.headers, name) === undefined) {
        return reject(
          'IncompleteSignatureException',
          `'${name}' is named as a SignedHeader, but it does not exist in the HTTP request.`,
        );
      }
    }
    const amzDate = headerValue(request.headers, 'x-amz-date');
    if (amzDate === undefined || !signedHeaders.includes('x-amz-date')) {
      return reject('IncompleteSignatureException', "Authorization header requires a signed 'X-Amz-Date' header.");
    }
    const signingDate = parseAmzDate(amzDate);
    if (signingDate === undefined) {
      return reject('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.`);
    }
    if (parsed.scopeDate !== amzDate.slice(0, 8)) {
      return reject(
        'InvalidSignatureException',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${amzDate.slice(0, 8)}'.`,
      );
    }
    const current = now();
    if (signingDate.getTime() < current.getTime() - maxClockSkewMs) {
      const limit = formatAmzDate(new Date(current.getTime() - maxClockSkewMs));
      return reject(
        'InvalidSignatureException',
        `Signature expired: ${amzDate} is now earlier than ${limit} (${formatAmzDate(current)} - ${skewMinutes} min.)`,
        'clock-skew',
      );
    }
    if (signingDate.getTime() > current.getTime() + maxClockSkewMs) {
      const limit = formatAmzDate(new Date(current.getTime() + maxClockSkewMs));
      return reject(
        'InvalidSignatureException',
        `Signature not yet current: ${amzDate} is still later than ${limit} (${formatAmzDate(current)} + ${skewMinutes} min.)`,
        'clock-skew',
      );
    }

    // A signed payload hash must be the body's; otherwise the signature would cover a body that was not sent.
    const declaredPayloadHash = headerValue(request.headers, 'x-amz-content-sha256');
    if (declaredPayloadHash !== undefined) {
      const actual = createHash('sha256').update(request.body).digest('hex');
      if (declaredPayloadHash !== actual) {
        return reject(
          'InvalidSignatureException',
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
      }
    }

    const headers: Record<string, string> = {};
    for (const name of signedHeaders) headers[name] = headerValue(request.headers, name)!;
    const signer = new SignatureV4({
      service,
      region,
      credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
      sha256: Sha256,
      applyChecksum: false,
    });
    const recomputed = await signer.sign(
      new HttpRequest({
        method: request.method,
        protocol: 'https:',
        hostname: headers['host']!,
        path: request.path,
        query: parseQuery(request.query),
        headers,
        body: request.body,
      }),
      { signingDate, signableHeaders: new Set(signedHeaders) },
    );
    const expected = signatureOf(String(recomputed.headers['authorization']));
    const signedHeadersMatch = expected.signedHeaders === [...signedHeaders].sort().join(';');
    if (!sameSignature(expected.signature, parsed.signature) || !signedHeadersMatch) {
      return reject('InvalidSignatureException', SIGNATURE_MISMATCH);
    }
    return { valid: true, credential };
  };
}
