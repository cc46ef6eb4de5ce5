/**
 * Temporary credentials for the local admin, shaped like those STS vends (an `ASIA…` access key, a secret, a
 * session token, an expiry), so that clients that only speak temporary credentials (SSO profiles, assumed roles,
 * Cognito identity pools, Amplify) can be tried against the twin.
 *
 * They are derived, not stored: the session token carries its expiry and a random nonce under an HMAC keyed with
 * the admin's long-term secret, and the access key id and secret are HMACs of the token. Any process that holds
 * the data dir's credentials (`cvm local credentials`, the running twin) can issue or check them without sharing
 * state, and rotating the admin secret (deleting credentials.json) revokes them all.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TemporaryCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** STS's bounds for a session's duration, and its default (AssumeRole's DurationSeconds). */
export const SESSION_DURATION_BOUNDS = { min: 900, max: 43_200, default: 3_600 } as const;

export type SessionVerdict =
  | { readonly valid: true; readonly secretAccessKey: string; readonly expiration: Date }
  | { readonly valid: false; readonly reason: 'invalid' | 'expired' };

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function hmac(key: string, purpose: string, text: string): Buffer {
  return createHmac('sha256', key).update(`cvm-local-session/${purpose}\0${text}`, 'utf8').digest();
}

function accessKeyIdOf(adminSecret: string, sessionToken: string): string {
  const digest = hmac(adminSecret, 'access-key-id', sessionToken);
  return `ASIA${Array.from(digest.subarray(0, 16), (byte) => BASE32[byte % 32]).join('')}`;
}

function secretOf(adminSecret: string, sessionToken: string): string {
  return hmac(adminSecret, 'secret', sessionToken).toString('base64').slice(0, 40);
}

export function issueTemporaryCredentials(
  adminSecret: string,
  now: Date,
  durationSeconds: number = SESSION_DURATION_BOUNDS.default,
): TemporaryCredentials {
  if (
    !Number.isInteger(durationSeconds) ||
    durationSeconds < SESSION_DURATION_BOUNDS.min ||
    durationSeconds > SESSION_DURATION_BOUNDS.max
  ) {
    throw new RangeError(
      `A session lasts ${SESSION_DURATION_BOUNDS.min} to ${SESSION_DURATION_BOUNDS.max} seconds (got ${durationSeconds}).`,
    );
  }
  const expiresAt = Math.floor(now.getTime() / 1000) + durationSeconds;
  const claims = Buffer.from(JSON.stringify({ exp: expiresAt, nonce: randomBytes(16).toString('base64url') })).toString(
    'base64url',
  );
  const sessionToken = `${claims}.${hmac(adminSecret, 'token', claims).toString('base64url')}`;
  return {
    accessKeyId: accessKeyIdOf(adminSecret, sessionToken),
    secretAccessKey: secretOf(adminSecret, sessionToken),
    sessionToken,
    expiration: new Date(expiresAt * 1000),
  };
}

/** Whether `sessionToken` is one we issued, for `accessKeyId`, and still valid at `now`. */
export function verifySessionToken(
  adminSecret: string,
  accessKeyId: string,
  sessionToken: string,
  now: Date,
): SessionVerdict {
  const [claims, mac, ...rest] = sessionToken.split('.');
  if (claims === undefined || mac === undefined || rest.length > 0) return { valid: false, reason: 'invalid' };
  const expected = hmac(adminSecret, 'token', claims);
  const provided = Buffer.from(mac, 'base64url');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    return { valid: false, reason: 'invalid' };
  }
  const expectedKeyId = Buffer.from(accessKeyIdOf(adminSecret, sessionToken));
  const providedKeyId = Buffer.from(accessKeyId);
  if (expectedKeyId.length !== providedKeyId.length || !timingSafeEqual(expectedKeyId, providedKeyId)) {
    return { valid: false, reason: 'invalid' };
  }
  const { exp } = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { exp: number };
  const expiration = new Date(exp * 1000);
  if (expiration.getTime() <= now.getTime()) return { valid: false, reason: 'expired' };
  return { valid: true, secretAccessKey: secretOf(adminSecret, sessionToken), expiration };
}
