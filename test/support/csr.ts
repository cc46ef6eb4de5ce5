/**
 * CSRs for tests, made the way a device would: a WebCrypto key pair and a PKCS#10 request signed with
 * it. The fingerprint is what the core records to recognise the same key on a retry.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export type CsrKeyType = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-2048' | 'rsa-1024';

export interface MakeCsrOptions {
  /** The subject's one CN (unless extraSubject adds another), used byte for byte. */
  readonly commonName: string;
  /** Default `ec-p256`. `rsa-1024` exists so that tests can check it is refused. */
  readonly keyType?: CsrKeyType;
  /** More subject attributes after the CN, in RFC 4514-like form, e.g. `O=Acme, CN=second`. */
  readonly extraSubject?: string;
  /** Sign with this key pair instead of a fresh one (a device retrying with its key); keyType is then ignored. */
  readonly keys?: webcrypto.CryptoKeyPair;
}

export interface MadeCsr {
  readonly csrPem: string;
  readonly keys: webcrypto.CryptoKeyPair;
  /** Lowercase hex SHA-256 of the CSR's SubjectPublicKeyInfo DER. */
  readonly publicKeyFingerprint: string;
}

const RSA_PUBLIC_EXPONENT = new Uint8Array([1, 0, 1]);

const KEY_GENERATION: Readonly<Record<CsrKeyType, webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams>> = {
  'ec-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'ec-p384': { name: 'ECDSA', namedCurve: 'P-384' },
  'ec-p521': { name: 'ECDSA', namedCurve: 'P-521' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: RSA_PUBLIC_EXPONENT, hash: 'SHA-256' },
  'rsa-1024': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: RSA_PUBLIC_EXPONENT, hash: 'SHA-256' },
};

/** The hash each curve is paired with (RFC 5480). An RSA key carries its hash in the key itself. */
const HASH_BY_CURVE: Readonly<Record<string, string>> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

export async function makeCsr(options: MakeCsrOptions): Promise<MadeCsr> {
  const keys = options.keys ?? (await generateKeys(options.keyType ?? 'ec-p256'));
  // The CN goes in as a JSON name so that it is taken literally, whatever characters a test puts in it.
  const extra = options.extraSubject === undefined ? [] : new x509.Name(options.extraSubject).toJSON();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: [{ CN: [options.commonName] }, ...extra], keys, signingAlgorithm: signingAlgorithmFor(keys.privateKey) },
    webcrypto,
  );
  const fingerprint = await webcrypto.subtle.digest('SHA-256', csr.publicKey.rawData);
  return {
    csrPem: csr.toString('pem'),
    keys,
    publicKeyFingerprint: Buffer.from(fingerprint).toString('hex'),
  };
}

function generateKeys(keyType: CsrKeyType): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_GENERATION[keyType], true, ['sign', 'verify']);
}

function signingAlgorithmFor(privateKey: webcrypto.CryptoKey): webcrypto.EcdsaParams | webcrypto.Algorithm {
  const algorithm = privateKey.algorithm as webcrypto.KeyAlgorithm & { readonly namedCurve?: string };
  if (algorithm.name === 'ECDSA') {
    return { name: 'ECDSA', hash: HASH_BY_CURVE[algorithm.namedCurve ?? ''] ?? 'SHA-256' };
  }
  return { name: algorithm.name };
}
