import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, TOKEN_PATTERN, tokenMatches } from '../../../../resolvers/core/token.ts';

const counting = { bytes: (length: number) => Uint8Array.from({ length }, (_, i) => i) };

describe('generateToken', () => {
  it('makes 43 base64url characters from 32 random bytes and keeps only their SHA-256', () => {
    const { token, tokenHash } = generateToken(counting);
    expect(token).toMatch(TOKEN_PATTERN);
    expect(Buffer.from(token, 'base64url')).toEqual(Buffer.from(counting.bytes(32)));
    expect(tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
  });

  it('makes a different token from different randomness', () => {
    const other = { bytes: (length: number) => new Uint8Array(length).fill(7) };
    expect(generateToken(other).token).not.toBe(generateToken(counting).token);
  });
});

describe('tokenMatches', () => {
  const { token, tokenHash } = generateToken(counting);

  it('accepts the token whose hash is stored', () => {
    expect(tokenMatches(token, tokenHash)).toBe(true);
  });

  it('refuses another well-formed token', () => {
    const other = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(tokenMatches(other, tokenHash)).toBe(false);
  });

  it('refuses every token once no hash is stored (a revoked device)', () => {
    expect(tokenMatches(token, undefined)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['too short', token.slice(1)],
    ['too long', `${token}A`],
    ['not base64url', `${token.slice(0, -1)}+`],
  ])('refuses a malformed token (%s) without comparing', (_case, malformed) => {
    expect(tokenMatches(malformed, tokenHash)).toBe(false);
  });

  it('refuses a stored hash of the wrong length instead of throwing', () => {
    expect(tokenMatches(token, tokenHash.slice(2))).toBe(false);
  });

  it('hashes the token as UTF-8 text', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
