/**
 * One-time registration tokens: 32 random bytes, base64url, handed out once and stored only as SHA-256.
 * A stolen table therefore yields no usable token, and comparison is constant-time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RandomSource } from './ports.ts';

export const TOKEN_BYTES = 32;
/** base64url of 32 bytes, without padding. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function generateToken(random: RandomSource): { token: string; tokenHash: string } {
  const token = Buffer.from(random.bytes(TOKEN_BYTES)).toString('base64url');
  return { token, tokenHash: hashToken(token) };
}

/** A new token for a device: the token (shown once), its hash and when it expires. */
export function issueToken(
  random: RandomSource,
  now: Date,
  ttlSeconds: number,
): { token: string; tokenHash: string; tokenExpiresAt: string } {
  const { token, tokenHash } = generateToken(random);
  return { token, tokenHash, tokenExpiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString() };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when `token` is well formed and hashes to `storedHash`. */
export function tokenMatches(token: string, storedHash: string | undefined): boolean {
  if (storedHash === undefined || !TOKEN_PATTERN.test(token)) return false;
  const presented = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
