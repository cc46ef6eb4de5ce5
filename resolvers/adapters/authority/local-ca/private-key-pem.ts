/** Private keys on disk: PKCS#8 in PEM, the form openssl and Node's tls module read without options. */
import { x509, webcrypto, type CryptoKey } from './x509.ts';

const PRIVATE_KEY_PEM_TYPE = 'PRIVATE KEY';

/** The key pairs the local CA makes for itself: ECDSA P-256, extractable so that they can be stored. */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const ECDSA_WITH_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

export function generateEcdsaP256KeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
}

export async function exportPrivateKeyPem(privateKey: CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', privateKey);
  return x509.PemConverter.encode(pkcs8, PRIVATE_KEY_PEM_TYPE);
}

/**
 * Read the first `PRIVATE KEY` block of `pem` as a non-extractable ECDSA P-256 signing key.
 * Throws when there is none or it is not such a key.
 */
export async function importEcdsaP256PrivateKeyPem(pem: string): Promise<CryptoKey> {
  const block = x509.PemConverter.decodeWithHeaders(pem).find((item) => item.type === PRIVATE_KEY_PEM_TYPE);
  if (block === undefined) {
    throw new Error(`no "${PRIVATE_KEY_PEM_TYPE}" PEM block found`);
  }
  return webcrypto.subtle.importKey('pkcs8', block.rawData, ECDSA_P256, false, ['sign']);
}

/** Whether `privateKey` is the private half of `publicKey`: sign a random challenge and verify it. */
export async function keysMatch(privateKey: CryptoKey, publicKey: x509.PublicKey): Promise<boolean> {
  const challenge = webcrypto.getRandomValues(new Uint8Array(32));
  const signature = await webcrypto.subtle.sign(ECDSA_WITH_SHA256, privateKey, challenge);
  const verifyingKey = await publicKey.export(ECDSA_P256, ['verify']);
  return webcrypto.subtle.verify(ECDSA_WITH_SHA256, verifyingKey, signature, challenge);
}
