/**
 * Decides which authorization mode a request uses and whether its credentials hold, as AppSync does for an API
 * with AWS_IAM as the default mode and API_KEY as an additional one:
 *
 * - an `Authorization: AWS4-HMAC-SHA256 …` header selects AWS_IAM; the SigV4 signature must verify, and the
 *   caller then carries an IAM identity like AppSync's `ctx.identity` (userArn, accountId, username, sourceIp);
 * - otherwise an `x-api-key` header selects API_KEY; the key must be one of ours, and the identity is null;
 * - anything else is HTTP 401 UnauthorizedException.
 *
 * Every refusal is HTTP 401 UnauthorizedException, as cvm's contract (issue #2) asks: "Valid authorization
 * header not provided." / "You are not authorized to make this call." (AppSync's messages, from the AWS knowledge
 * center on 401s), or, for a signature that does not hold, a message saying why (wrong signature, unknown key,
 * stale date, incomplete header). Real AppSync reports some signature failures as 403 InvalidSignatureException;
 * clients should treat both as "fix your credentials".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from './executor.ts';
import { SIGV4_ALGORITHM, createSigV4Verifier } from './sigv4-verifier.ts';
import type { SignedHttpRequest } from './sigv4-verifier.ts';

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
}

export interface IncomingRequest extends SignedHttpRequest {
  readonly remoteAddress: string | undefined;
}

export type Authentication =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly status: number; readonly errorType: string; readonly message: string };

export const MISSING_CREDENTIALS_MESSAGE = 'Valid authorization header not provided.';
export const INVALID_API_KEY_MESSAGE = 'You are not authorized to make this call.';

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
        return {
          ok: false,
          // cvm's contract (issue #2): any missing or wrong credential is HTTP 401 UnauthorizedException,
          // as AppSync answers for its API-key mode; the message still says what was wrong with the signature.
          status: 401,
          errorType: 'UnauthorizedException',
          message: verdict.message,
        };
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
