/**
 * `nextToken`s: opaque to clients and signed, so that a client cannot edit one to read another index,
 * another status or another device's events. A token names the query it belongs to; a token presented
 * with a different query, or altered in any byte, is refused as `InvalidInput`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CoreContext } from './context.ts';
import { CvmError } from './errors.ts';

const SECRET_NAME = 'paging-token-key';
const SECRET_BYTES = 32;

/** What a token carries: the query it continues and where. */
export interface PagePosition {
  /** Identifies the query, e.g. `devices:ACTIVE` or `events:SN-1`. */
  readonly scope: string;
  /** Extra position for multi-part walks (e.g. which status of an unfiltered list). */
  readonly part: number;
  /** The store's own cursor. */
  readonly cursor: string;
}

export async function encodeNextToken(ctx: CoreContext, position: PagePosition): Promise<string> {
  const body = Buffer.from(JSON.stringify([1, position.scope, position.part, position.cursor])).toString('base64url');
  return `${body}.${await sign(ctx, body)}`;
}

/** Decode a client's nextToken for `scope`. */
export async function decodeNextToken(ctx: CoreContext, token: unknown, scope: string): Promise<PagePosition> {
  if (typeof token !== 'string' || token.length > 4096) throw tampered();
  const [body, signature, ...rest] = token.split('.');
  if (!body || !signature || rest.length > 0) throw tampered();
  const expected = Buffer.from(await sign(ctx, body), 'base64url');
  const presented = Buffer.from(signature, 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw tampered();
  const decoded: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  if (
    !Array.isArray(decoded) ||
    decoded[0] !== 1 ||
    decoded[1] !== scope ||
    typeof decoded[2] !== 'number' ||
    typeof decoded[3] !== 'string'
  ) {
    throw tampered();
  }
  return { scope, part: decoded[2], cursor: decoded[3] };
}

/** One read of the key per secret store and process; a failed read is not cached. */
const keys = new WeakMap<CoreContext['secrets'], Promise<Uint8Array>>();

async function sign(ctx: CoreContext, body: string): Promise<string> {
  let key = keys.get(ctx.secrets);
  if (key === undefined) {
    key = ctx.secrets.getOrCreate(SECRET_NAME, ctx.random.bytes(SECRET_BYTES));
    keys.set(ctx.secrets, key);
    key.catch(() => keys.delete(ctx.secrets));
  }
  return createHmac('sha256', await key)
    .update(body)
    .digest('base64url');
}

function tampered(): CvmError {
  return new CvmError('InvalidInput', 'The nextToken is not valid for this query; start again without it.');
}

/** Validate a page size: 1-100, default 25. */
export function pageLimit(value: unknown, defaultLimit = 25, maxLimit = 100): number {
  if (value === undefined || value === null) return defaultLimit;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > maxLimit) {
    throw new CvmError('InvalidInput', `limit must be a whole number from 1 to ${maxLimit}.`);
  }
  return value;
}
