/**
 * A certificate authority held in memory: a self-signed CA certificate and its private key.
 * ca-store.ts keeps one on disk; issue-leaf.ts and tls-certificate.ts sign with it.
 */
import { x509, webcrypto, type CryptoKey } from './x509.ts';
import {
  ECDSA_WITH_SHA256,
  exportPrivateKeyPem,
  generateEcdsaP256KeyPair,
  importEcdsaP256PrivateKeyPem,
  keysMatch,
} from './private-key-pem.ts';

export interface LocalCa {
  readonly certificate: x509.X509Certificate;
  readonly certificatePem: string;
  /** Signs certificates; never leaves the CA directory. */
  readonly privateKey: CryptoKey;
  /** Hex subject key identifier, copied into the authority key identifier of every certificate it signs. */
  readonly keyIdentifier: string;
}

export interface CreateCaOptions {
  /** Subject and issuer common name, e.g. "cvm local device CA". */
  readonly commonName: string;
  /** Start of validity (less a few minutes for clock skew). Default: now. */
  readonly now?: Date;
  /** Default 10. */
  readonly validityYears?: number;
  /** End of validity, when it must be a given date rather than `validityYears` ahead (then validityYears is ignored). */
  readonly notAfter?: Date;
}

/** Certificates are valid from a little before they are made, so that a peer whose clock lags still accepts them. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60 * 1000;

/** A fresh ECDSA P-256 CA, with its private key as PKCS#8 PEM so that the caller can store it. */
export async function createCa(options: CreateCaOptions): Promise<{ ca: LocalCa; privateKeyPem: string }> {
  const now = options.now ?? new Date();
  const notAfter = new Date(options.notAfter ?? now);
  if (options.notAfter === undefined)
    notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (options.validityYears ?? 10));
  const keys = await generateEcdsaP256KeyPair();
  const name: x509.JsonName = [{ CN: [options.commonName] }];
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter,
    keys,
    signingAlgorithm: ECDSA_WITH_SHA256,
    extensions: [
      // Path length 0: this CA signs end-entity certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const ca = await caFromParts(certificate, keys.privateKey);
  return { ca, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * A CA from its stored certificate and key, checked: a CA certificate with a key identifier whose
 * public key belongs to the private key. Throws an Error saying what is wrong.
 */
export async function caFromPem(certificatePem: string, privateKeyPem: string): Promise<LocalCa> {
  const certificate = new x509.X509Certificate(certificatePem);
  const privateKey = await importEcdsaP256PrivateKeyPem(privateKeyPem);
  return caFromParts(certificate, privateKey);
}

async function caFromParts(certificate: x509.X509Certificate, privateKey: CryptoKey): Promise<LocalCa> {
  if (certificate.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    throw new Error('the certificate is not a CA certificate (basicConstraints CA:true is missing)');
  }
  const keyIdentifier = certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (keyIdentifier === undefined) {
    throw new Error('the CA certificate has no subject key identifier');
  }
  if (!(await keysMatch(privateKey, certificate.publicKey))) {
    throw new Error('the private key does not belong to the CA certificate');
  }
  return { certificate, certificatePem: certificate.toString('pem'), privateKey, keyIdentifier };
}

/**
 * 128 random bits as hex. @peculiar/x509 prefixes a zero byte when the top bit is set, so the
 * DER INTEGER stays positive and within the 20 octets RFC 5280 allows.
 */
export function randomSerialNumber(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex');
}
