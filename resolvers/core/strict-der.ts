/**
 * Parse DER and insist on it: re-encoding must give back the very bytes. Trailing bytes or a non-canonical encoding
 * would let two different byte strings mean one CSR or one key. Parsing and re-encoding both sit inside the guard
 * because the ASN.1 library re-reads some values (an attribute of an unexpected universal type) only when encoding.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';

export type StrictDer<T> =
  | { readonly parsed: T }
  | { readonly refused: 'unparsable'; readonly cause: unknown }
  | { readonly refused: 'not DER' };

export function parseStrictDer<T>(der: Uint8Array, schema: new () => T): StrictDer<T> {
  let parsed: T;
  let reencoded: Uint8Array;
  try {
    parsed = AsnConvert.parse(der, schema);
    reencoded = new Uint8Array(AsnConvert.serialize(parsed));
  } catch (cause) {
    return { refused: 'unparsable', cause };
  }
  if (!Buffer.from(reencoded).equals(Buffer.from(der))) return { refused: 'not DER' };
  return { parsed };
}
