/**
 * Decides which authorization mode a request uses and whether its credentials hold, as AppSync does for an API
 * with AWS_IAM as the default mode and API_KEY as an additional one:
 *
 * - an `Authorization: AWS4-HMAC-SHA256 …` header selects AWS_IAM; the SigV4 signature must verify, and the
 *   caller then carries an IAM identity like AppSync's `ctx.identity` (userArn, accountId, username, sourceIp);
 * - otherwise an `x-api-key` header selects API_KEY; the key must be one of ours, and the identity is null;
 * - anything else is HTTP 401 UnauthorizedException.
 *
 * Refusals answer as AppSync does:
 * - no credentials at all, or an unknown API key: HTTP 401 UnauthorizedException, "Valid authorization header not
 *   provided." / "You are not authorized to make this call." (AWS knowledge center on AppSync 401s);
 * - a signature that does not verify: HTTP 403 with the SigV4 front door's own type (x-amzn-ErrorType):
 *   InvalidSignatureException for a wrong signature or scope, UnrecognizedClientException for an unknown access
 *   key or session token, ExpiredTokenException for expired temporary credentials, IncompleteSignatureException
 *   for a header missing parts (aws-amplify/amplify-js#2422, #3447);
 * - a signing date more than 5 minutes off: HTTP 400 BadRequestException "Signature expired: …" / "Signature not
 *   yet current: …", which is what Amplify's clock-skew correction looks for (aws-amplify/amplify-js#11480, #5869).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from './executor.ts';
import { SIGV4_ALGORITHM, createSigV4Verifier } from './sigv4-verifier.ts';
import type { SessionRefusal, SignedHttpRequest, SigV4FailureKind } from './sigv4-verifier.ts';

export interface AdminCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Passed to the resolver as identity.userArn (audit events name it). */
  readonly userArn: string;
  readonly accountId: string;
}

export interface AuthenticatorOptions {
  readonly region: string;
  readonly apiKeys: readonly string[];
  readonly adminCredentials: readonly AdminCredential[];
  /** Default: the system clock. */
  readonly now?: () => Date;
  /** Temporary credentials for the admin identity: the credential for a session, or why not. Default: none. */
  readonly resolveSession?: (accessKeyId: string, sessionToken: string, now: Date) => AdminCredential | SessionRefusal;
}

export interface IncomingRequest extends SignedHttpRequest {
  readonly remoteAddress: string | undefined;
}

export type Authentication =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly status: number; readonly errorType: string; readonly message: string };

export const MISSING_CREDENTIALS_MESSAGE = 'Valid authorization header not provided.';
export const INVALID_API_KEY_MESSAGE = 'You are not authorized to make this call.';

/** AppSync's status (and, where it differs from the SigV4 type, errorType) for each kind of signature failure. */
const SIGNATURE_REFUSAL: Readonly<Partial<Record<SigV4FailureKind, { status: number; errorType?: string }>>> = {
  'clock-skew': { status: 400, errorType: 'BadRequestException' },
};

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function singleHeader(value: string | readonly string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : (value as string | undefined);
}

export function createAuthenticator(
  options: AuthenticatorOptions,
): (request: IncomingRequest) => Promise<Authentication> {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the candidate's length.
  const apiKeyDigests = options.apiKeys.map(sha256);
  const verifySignature = createSigV4Verifier({
    region: options.region,
    credentials: options.adminCredentials,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.resolveSession === undefined ? {} : { resolveSession: options.resolveSession }),
  });

  const isKnownApiKey = (candidate: string): boolean => {
    const digest = sha256(candidate);
    let known = false;
    for (const keyDigest of apiKeyDigests) known = timingSafeEqual(digest, keyDigest) || known;
    return known;
  };

  return async (request) => {
    const authorization = singleHeader(request.headers['authorization']);
    if (authorization !== undefined && authorization.trimStart().startsWith(`${SIGV4_ALGORITHM} `)) {
      const verdict = await verifySignature(request);
      if (!verdict.valid) {
        const { status, errorType } = SIGNATURE_REFUSAL[verdict.kind] ?? { status: 403, errorType: verdict.errorType };
        return { ok: false, status, errorType: errorType ?? verdict.errorType, message: verdict.message };
      }
      const { userArn, accountId, accessKeyId } = verdict.credential;
      const sourceIp = request.remoteAddress === undefined ? [] : [request.remoteAddress];
      return {
        ok: true,
        caller: { mode: 'AWS_IAM', identity: { userArn, accountId, username: accessKeyId, sourceIp } },
      };
    }

    const apiKey = singleHeader(request.headers['x-api-key']);
    if (apiKey !== undefined) {
      if (!isKnownApiKey(apiKey)) {
        return { ok: false, status: 401, errorType: 'UnauthorizedException', message: INVALID_API_KEY_MESSAGE };
      }
      return { ok: true, caller: { mode: 'API_KEY', identity: null } };
    }
    return { ok: false, status: 401, errorType: 'UnauthorizedException', message: MISSING_CREDENTIALS_MESSAGE };
  };
}
