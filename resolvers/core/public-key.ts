/**
 * The public keys cvm accepts, wherever a key comes from: a device's CSR, or the key an admin pins at
 * registration. One set of rules, so that a key cvm pins is always a key it would certify: RSA of 2048 bits or
 * more, EC on the named curves P-256, P-384 or P-521 only (what AWS IoT's CreateCertificateFromCsr accepts), with
 * algorithm parameters exactly as the standards write them.
 */
import 'reflect-metadata';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { CvmError } from './errors.ts';
import { parseStrictDer } from './strict-der.ts';

type AlgorithmIdentifier = SubjectPublicKeyInfo['algorithm'];

export const MIN_RSA_MODULUS_BITS = 2048;
/** A PEM public key longer than this is refused unread: an RSA 16384 SPKI is about 2,900 characters. */
export const MAX_PUBLIC_KEY_PEM_LENGTH = 4096;

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
/** The DER of ASN.1 NULL, as hex. */
export const DER_NULL = '0500';

/** The curves AWS IoT accepts, by the DER (hex) of the namedCurve OID that an EC key's parameters must be. */
const NAMED_CURVES: ReadonlyMap<string, string> = new Map([
  ['06082a8648ce3d030107', 'P-256'], // 1.2.840.10045.3.1.7 prime256v1
  ['06052b81040022', 'P-384'], // 1.3.132.0.34 secp384r1
  ['06052b81040023', 'P-521'], // 1.3.132.0.35 secp521r1
]);

/** Node's names for the curves AWS IoT accepts, and how we print them. */
const ACCEPTED_CURVES: ReadonlyMap<string, string> = new Map([
  ['prime256v1', 'P-256'],
  ['secp384r1', 'P-384'],
  ['secp521r1', 'P-521'],
]);

const PUBLIC_KEY_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END PUBLIC KEY-----\s*$/;

/** How a refusal reads where the key came from: `The CSR key …` (InvalidCsr) or `publicKey …` (InvalidInput). */
export interface KeyRefusal {
  /** The key's name at the start of a sentence, e.g. `The CSR key`. */
  readonly subject: string;
  readonly refuse: (message: string, cause?: unknown) => CvmError;
}

export interface AcceptedKey {
  readonly key: KeyObject;
  /** e.g. `EC P-256` or `RSA 2048`, for logs and audit events. */
  readonly description: string;
}

/**
 * The key of a SubjectPublicKeyInfo, read from its algorithm first: an EC key must name its curve
 * (RFC 5480 section 2.1.1 allows only named curves; OpenSSL would match explicit P-256 parameters to P-256 and let
 * the key through to an authority that refuses it), an RSA key must have NULL parameters (RFC 3279 section 2.3.1).
 */
export function acceptedKey(algorithm: AlgorithmIdentifier, spki: Uint8Array, refusal: KeyRefusal): AcceptedKey {
  const { subject, refuse } = refusal;
  const parameters = parametersHex(algorithm);
  let expectedCurve: string | undefined;
  if (algorithm.algorithm === EC_PUBLIC_KEY) {
    expectedCurve = NAMED_CURVES.get(parameters ?? '');
    if (expectedCurve === undefined) {
      throw refuse(`${subject} must be on a named curve: P-256, P-384 or P-521 (explicit parameters are refused).`);
    }
  } else if (algorithm.algorithm === RSA_ENCRYPTION) {
    if (parameters !== DER_NULL) throw refuse(`${subject} (RSA) must have NULL algorithm parameters.`);
  } else {
    throw refuse(`${subject} type ${algorithm.algorithm} is not accepted; use RSA (2048+) or EC P-256/P-384/P-521.`);
  }

  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw refuse(`${subject} cannot be read.`, error);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' && expectedCurve === undefined) {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_MODULUS_BITS) {
      throw refuse(`${subject} is RSA ${bits}; AWS IoT needs RSA keys of at least ${MIN_RSA_MODULUS_BITS} bits.`);
    }
    return { key, description: `RSA ${bits}` };
  }
  if (key.asymmetricKeyType === 'ec' && ACCEPTED_CURVES.get(details.namedCurve ?? '') === expectedCurve) {
    return { key, description: `EC ${expectedCurve}` };
  }
  throw refuse(`${subject} does not match its algorithm identifier.`);
}

/** Lowercase hex SHA-256 of a SubjectPublicKeyInfo's DER: how cvm names a key (a CSR's, or a pinned one). */
export function publicKeyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

export interface InspectedPublicKey {
  readonly publicKeyFingerprint: string;
  readonly keyDescription: string;
}

const PINNED_KEY: KeyRefusal = {
  subject: 'publicKey',
  refuse: (message, cause) => new CvmError('InvalidInput', message, cause === undefined ? undefined : { cause }),
};

/**
 * Check a public key an admin gives (PEM SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`, as
 * `openssl pkey -pubout` writes it) against the rules a CSR's key must meet.
 * @throws CvmError `InvalidInput` for anything else, with a message that says what is wrong.
 */
export function inspectPublicKeyPem(pem: unknown): InspectedPublicKey {
  if (typeof pem !== 'string' || pem.length > MAX_PUBLIC_KEY_PEM_LENGTH) {
    throw PINNED_KEY.refuse(
      `publicKey must be a PEM public key of at most ${MAX_PUBLIC_KEY_PEM_LENGTH} characters (-----BEGIN PUBLIC KEY-----).`,
    );
  }
  const match = PUBLIC_KEY_PEM.exec(pem.trimStart());
  if (!match?.[1]) {
    throw PINNED_KEY.refuse(
      'publicKey must be one PEM block: -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY----- (openssl pkey -pubout writes it).',
    );
  }
  const der = new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ''), 'base64'));
  if (der.length === 0) throw PINNED_KEY.refuse('The publicKey PEM block is empty.');
  // DER only, as for a CSR: one key, one byte string, one fingerprint.
  const result = parseStrictDer(der, SubjectPublicKeyInfo);
  if ('refused' in result) {
    throw result.refused === 'unparsable'
      ? PINNED_KEY.refuse('publicKey is not a valid SubjectPublicKeyInfo.', result.cause)
      : PINNED_KEY.refuse('publicKey is not DER encoded (it has trailing or non-canonical bytes).');
  }
  const spki = result.parsed;
  const { description } = acceptedKey(spki.algorithm, der, PINNED_KEY);
  return { publicKeyFingerprint: publicKeyFingerprint(der), keyDescription: description };
}

/**
 * Lowercase hex of the DER of an AlgorithmIdentifier's parameters, or undefined when they are absent.
 * The ASN.1 library reads an ASN.1 NULL as `null` (and strict DER has already made sure it was `05 00`).
 */
export function parametersHex(algorithm: AlgorithmIdentifier): string | undefined {
  const { parameters } = algorithm;
  if (parameters === undefined) return undefined;
  return parameters === null ? DER_NULL : Buffer.from(parameters).toString('hex');
}
