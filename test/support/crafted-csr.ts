/**
 * CSRs no well-behaved generator would write, built byte by byte and properly signed, so that a test reaches
 * the check it means to reach: an attribute value of an odd ASN.1 type, a CN that is not a string, an EC key
 * with explicit curve parameters, signature algorithm parameters that are not what the standards say.
 * The ASN.1 libraries cannot write these (some of them are exactly what they choke on), hence a small DER writer.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/** One DER TLV with a definite length. `tag` is the whole identifier octet. */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  return new Uint8Array(Buffer.concat([Buffer.from([tag]), derLength(body.length), body]));
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  numericString: 0x12,
  printableString: 0x13,
  utcTime: 0x17,
  sequence: 0x30,
  set: 0x31,
  contextConstructed0: 0xa0,
} as const;

export const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
export const DER_NULL = hex('0500');

/** DER of the object identifiers the tests use. */
export const OID = {
  commonName: hex('0603550403'),
  organization: hex('060355040a'),
  challengePassword: hex('06092a864886f70d010907'),
  ecdsaWithSha256: hex('06082a8648ce3d040302'),
  sha256WithRsa: hex('06092a864886f70d01010b'),
  ecPublicKey: hex('06072a8648ce3d0201'),
  primeField: hex('06072a8648ce3d0101'),
  prime256v1: hex('06082a8648ce3d030107'),
} as const;

/** A subject of one RDN per attribute, each value given as a whole TLV (so any ASN.1 type can be used). */
export function subjectOf(...attributes: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  return tlv(TAG.sequence, ...attributes.map(([type, value]) => tlv(TAG.set, tlv(TAG.sequence, type, value))));
}

export const utf8 = (text: string): Uint8Array => tlv(TAG.utf8String, Buffer.from(text, 'utf8'));

export interface CraftedCsrOptions {
  /** The subject Name DER. Default: one CN, a UTF8String equal to `commonName`. */
  readonly subject?: Uint8Array;
  readonly commonName?: string;
  /** `ec` (P-256, ECDSA with SHA-256) or `rsa` (2048, PKCS#1 v1.5 with SHA-256). Default `ec`. */
  readonly keyType?: 'ec' | 'rsa';
  /** Replace the SubjectPublicKeyInfo DER (the signature is still made with the generated key). */
  readonly subjectPublicKeyInfo?: (generated: Uint8Array, publicKey: KeyObject) => Uint8Array;
  /** The signature AlgorithmIdentifier DER. Default: what the standards say for the key type. */
  readonly signatureAlgorithm?: Uint8Array;
  /** Contents of the `[0] attributes` field (each a whole Attribute DER). Default none. */
  readonly attributes?: readonly Uint8Array[];
}

const keyCache = new Map<'ec' | 'rsa', { publicKey: KeyObject; privateKey: KeyObject }>();

function keysFor(keyType: 'ec' | 'rsa'): { publicKey: KeyObject; privateKey: KeyObject } {
  let keys = keyCache.get(keyType);
  if (keys === undefined) {
    keys =
      keyType === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    keyCache.set(keyType, keys);
  }
  return keys;
}

/** A CSR in PEM, signed (valid signature over the crafted request info) with a cached key of `keyType`. */
export function craftCsr(options: CraftedCsrOptions = {}): string {
  return signRequestInfo(craftRequestInfo(options), options.keyType ?? 'ec', options.signatureAlgorithm);
}

/** The CertificationRequestInfo DER that craftCsr signs. */
export function craftRequestInfo(options: CraftedCsrOptions = {}): Uint8Array {
  const { publicKey } = keysFor(options.keyType ?? 'ec');
  const generatedSpki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const spki = options.subjectPublicKeyInfo?.(generatedSpki, publicKey) ?? generatedSpki;
  const subject = options.subject ?? subjectOf([OID.commonName, utf8(options.commonName ?? 'SN-0001')]);
  return tlv(
    TAG.sequence,
    tlv(TAG.integer, hex('00')),
    subject,
    spki,
    tlv(TAG.contextConstructed0, ...(options.attributes ?? [])),
  );
}

/**
 * Any bytes as the request info of a CSR, signed with the cached key of `keyType`: the signature holds, so a
 * mutated request info reaches the checks after the signature (key, subject).
 */
export function signRequestInfo(info: Uint8Array, keyType: 'ec' | 'rsa', signatureAlgorithm?: Uint8Array): string {
  const { privateKey } = keysFor(keyType);
  const algorithm =
    signatureAlgorithm ??
    (keyType === 'ec' ? tlv(TAG.sequence, OID.ecdsaWithSha256) : tlv(TAG.sequence, OID.sha256WithRsa, DER_NULL));
  // Node writes ECDSA signatures as the DER Ecdsa-Sig-Value that X.509 wants.
  const signature = sign('sha256', info, privateKey);
  return pemOf(tlv(TAG.sequence, info, algorithm, tlv(TAG.bitString, hex('00'), signature)));
}

/** The CSR PEM framing around DER bytes. */
export function pemOf(der: Uint8Array): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** P-256 spelled out (SEC 2, section 2.4.2), for an EC key with explicit curve parameters. */
const P256 = {
  p: 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff',
  a: 'ffffffff00000001000000000000000000000000fffffffffffffffffffffffc',
  b: '5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b',
  generator:
    '046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296' +
    '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
  order: 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
};

/** The same P-256 public key, with the curve given as explicit ECParameters (RFC 3279) instead of its name. */
export function withExplicitP256Parameters(generatedSpki: Uint8Array): Uint8Array {
  // The uncompressed point is the last 65 bytes of a P-256 SubjectPublicKeyInfo.
  const point = generatedSpki.subarray(generatedSpki.length - 65);
  const unsigned = (value: string): Uint8Array => tlv(TAG.integer, hex(`00${value}`));
  const parameters = tlv(
    TAG.sequence,
    tlv(TAG.integer, hex('01')),
    tlv(TAG.sequence, OID.primeField, unsigned(P256.p)),
    tlv(TAG.sequence, tlv(TAG.octetString, hex(P256.a)), tlv(TAG.octetString, hex(P256.b))),
    tlv(TAG.octetString, hex(P256.generator)),
    unsigned(P256.order),
    tlv(TAG.integer, hex('01')),
  );
  return tlv(TAG.sequence, tlv(TAG.sequence, OID.ecPublicKey, parameters), tlv(TAG.bitString, hex('00'), point));
}
