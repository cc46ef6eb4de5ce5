import { describe, expect, it } from 'vitest';
import type { CoreContext } from '../../../../resolvers/core/context.ts';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { decodeNextToken, encodeNextToken, pageLimit } from '../../../../resolvers/core/paging.ts';
import type { SecretStore } from '../../../../resolvers/core/ports.ts';

/** A secret store in memory: the first value written for a name wins, as in the DynamoDB one. */
class MemorySecrets implements SecretStore {
  readonly values = new Map<string, Uint8Array>();
  reads = 0;
  getOrCreate(name: string, fresh: Uint8Array): Promise<Uint8Array> {
    this.reads += 1;
    if (!this.values.has(name)) this.values.set(name, fresh);
    return Promise.resolve(this.values.get(name) ?? fresh);
  }
}

function contextWith(secrets: SecretStore, fill = 1): CoreContext {
  return {
    secrets,
    random: { bytes: (length: number) => new Uint8Array(length).fill(fill) },
  } as Pick<CoreContext, 'secrets' | 'random'> as CoreContext;
}

async function errorTypeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CvmError) return error.errorType;
    throw error;
  }
  return 'no error';
}

describe('nextToken', () => {
  const position = { scope: 'devices:ACTIVE', part: 2, cursor: '{"pk":"DEVICE#SN-1"}' };

  it('gives back the position it was made from', async () => {
    const ctx = contextWith(new MemorySecrets());
    const token = await encodeNextToken(ctx, position);
    await expect(decodeNextToken(ctx, token, position.scope)).resolves.toEqual(position);
  });

  it('is refused for another query', async () => {
    const ctx = contextWith(new MemorySecrets());
    const token = await encodeNextToken(ctx, position);
    expect(await errorTypeOf(decodeNextToken(ctx, token, 'devices:PENDING'))).toBe('InvalidInput');
  });

  it('is refused when any character of it changes', async () => {
    const ctx = contextWith(new MemorySecrets());
    const token = await encodeNextToken(ctx, position);
    for (const index of [0, Math.floor(token.length / 2), token.length - 1]) {
      const changed = `${token.slice(0, index)}${token[index] === 'A' ? 'B' : 'A'}${token.slice(index + 1)}`;
      expect(await errorTypeOf(decodeNextToken(ctx, changed, position.scope))).toBe('InvalidInput');
    }
  });

  it('is refused when signed with another key (another deployment)', async () => {
    const token = await encodeNextToken(contextWith(new MemorySecrets(), 1), position);
    const elsewhere = contextWith(new MemorySecrets(), 2);
    expect(await errorTypeOf(decodeNextToken(elsewhere, token, position.scope))).toBe('InvalidInput');
  });

  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['no signature', 'abc'],
    ['three parts', 'a.b.c'],
    ['far too long', 'a'.repeat(5000)],
  ])('is refused when %s', async (_case, token) => {
    const ctx = contextWith(new MemorySecrets());
    expect(await errorTypeOf(decodeNextToken(ctx, token, position.scope))).toBe('InvalidInput');
  });

  it('reads the signing key once per secret store', async () => {
    const secrets = new MemorySecrets();
    const ctx = contextWith(secrets);
    await encodeNextToken(ctx, position);
    await encodeNextToken(ctx, position);
    expect(secrets.reads).toBe(1);
  });
});

describe('pageLimit', () => {
  it('defaults to 25 when absent', () => {
    expect(pageLimit(undefined)).toBe(25);
    expect(pageLimit(null)).toBe(25);
  });

  it.each([1, 25, 100])('takes %i', (limit) => {
    expect(pageLimit(limit)).toBe(limit);
  });

  it.each([0, 101, 2.5, -1, '10'])('refuses %s as InvalidInput', (limit) => {
    expect(() => pageLimit(limit)).toThrow(CvmError);
  });
});
