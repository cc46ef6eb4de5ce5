/**
 * The device's private key: made here with WebCrypto, kept in one PKCS#8 PEM file (mode 0600), and reused
 * on later runs. Reuse is what makes enrollment retries idempotent: the same key gets the same certificate.
 */
import { createPrivateKey, createPublicKey, type KeyObject, type webcrypto } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { EnrollmentError } from './errors.ts';
import { createFileDurably } from './files.ts';

type Algorithm = webcrypto.Algorithm;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcdsaParams = webcrypto.EcdsaParams;

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

interface KeyProfile {
  readonly label: string;
  readonly generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams;
  readonly import: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  /** What signs the CSR: ECDSA with the hash that matches the curve, or RSASSA-PKCS1-v1_5 with SHA-256. */
  readonly signing: Algorithm | EcdsaParams;
}

const RSA_PUBLIC_EXPONENT = new Uint8Array([1, 0, 1]);

const PROFILES: Readonly<Record<KeyType, KeyProfile>> = {
  'ec-p256': {
    label: 'EC P-256',
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    import: { name: 'ECDSA', namedCurve: 'P-256' },
    signing: { name: 'ECDSA', hash: 'SHA-256' },
  },
  'ec-p384': {
    label: 'EC P-384',
    generate: { name: 'ECDSA', namedCurve: 'P-384' },
    import: { name: 'ECDSA', namedCurve: 'P-384' },
    signing: { name: 'ECDSA', hash: 'SHA-384' },
  },
  'rsa-2048': {
    label: 'RSA 2048',
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: RSA_PUBLIC_EXPONENT,
      hash: 'SHA-256',
    },
    import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    signing: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
};

export function keyTypeLabel(keyType: KeyType): string {
  return PROFILES[keyType].label;
}

export function signingAlgorithmFor(keyType: KeyType): Algorithm | EcdsaParams {
  return PROFILES[keyType].signing;
}

export interface DeviceKey {
  readonly type: KeyType;
  readonly keys: CryptoKeyPair;
  /** SubjectPublicKeyInfo DER of the public key. */
  readonly spki: Uint8Array;
  /** True when the key was already on disk (this run or a concurrent one made none). */
  readonly reused: boolean;
  /** Things a person should know, e.g. a key file others can read. */
  readonly warnings: readonly string[];
}

/**
 * Read the key in `file`, or make a `keyType` key and write it there. A key already on disk wins even when
 * it is of another type: throwing it away could orphan a certificate already issued for it.
 */
export async function loadOrCreateDeviceKey(
  file: string,
  keyType: KeyType,
  crypto: webcrypto.Crypto = globalThis.crypto,
): Promise<DeviceKey> {
  const existing = await readIfPresent(file);
  if (existing !== undefined) return importDeviceKey(file, existing, crypto);

  const generated = await generateKeyPair(keyType, crypto);
  const pem = await privateKeyPem(generated, crypto);
  try {
    // `wx`: never clobber a key another run wrote meanwhile; that run's key is then the one to use.
    await createFileDurably(file, pem, 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return importDeviceKey(file, await readFile(file, 'utf8'), crypto);
    throw error;
  }
  return { ...(await describeKeyPair(keyType, generated, crypto)), reused: false, warnings: [] };
}

/** A new key of `keyType` held in memory only (benchmarks, tests); a device keeps its key with loadOrCreateDeviceKey. */
export async function generateDeviceKey(
  keyType: KeyType,
  crypto: webcrypto.Crypto = globalThis.crypto,
): Promise<DeviceKey> {
  const generated = await generateKeyPair(keyType, crypto);
  return { ...(await describeKeyPair(keyType, generated, crypto)), reused: false, warnings: [] };
}

/** A new `keyType` private key as PKCS#8 PEM, for a caller that stores it itself (a rotation's next key). */
export async function generatePrivateKeyPem(
  keyType: KeyType,
  crypto: webcrypto.Crypto = globalThis.crypto,
): Promise<string> {
  return privateKeyPem(await generateKeyPair(keyType, crypto), crypto);
}

async function privateKeyPem(keys: CryptoKeyPair, crypto: webcrypto.Crypto): Promise<string> {
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

function generateKeyPair(keyType: KeyType, crypto: webcrypto.Crypto): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(PROFILES[keyType].generate, true, ['sign', 'verify']);
}

async function describeKeyPair(
  keyType: KeyType,
  keys: CryptoKeyPair,
  crypto: webcrypto.Crypto,
): Promise<Pick<DeviceKey, 'type' | 'keys' | 'spki'>> {
  return { type: keyType, keys, spki: new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey)) };
}

async function importDeviceKey(file: string, pem: string, crypto: webcrypto.Crypto): Promise<DeviceKey> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new EnrollmentError('UnsupportedKey', `${file} does not hold a readable, unencrypted private key.`, {
      cause: error,
    });
  }
  const type = keyTypeOf(privateKey);
  if (type === undefined) {
    throw new EnrollmentError(
      'UnsupportedKey',
      `${file} holds a key cvm cannot use; supported: EC P-256, EC P-384, RSA 2048. Move it away to make a new one.`,
    );
  }
  const profile = PROFILES[type];
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const keys: CryptoKeyPair = {
    privateKey: await crypto.subtle.importKey('pkcs8', pkcs8, profile.import, false, ['sign']),
    publicKey: await crypto.subtle.importKey('spki', spki, profile.import, true, ['verify']),
  };
  const warnings: string[] = [];
  if (((await stat(file)).mode & 0o077) !== 0) {
    warnings.push(`${file} can be read by other users; restrict it with \`chmod 600 ${file}\`.`);
  }
  return { type, keys, spki, reused: true, warnings };
}

function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ec-p256';
    if (details?.namedCurve === 'secp384r1') return 'ec-p384';
  }
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 2048) return 'rsa-2048';
  return undefined;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}
