/**
 * The HTTPS server certificate of the local stack: for localhost, 127.0.0.1 and ::1, signed by the local
 * TLS CA, kept in one file (`server.pem`: private key, then certificate, then the CA certificate) so that
 * key and certificate are always replaced together by one atomic rename. Reissued when it is missing,
 * damaged, expires within 30 days, or was not signed by the given CA.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfPresent, writeFileAtomic } from '../../resolvers/adapters/authority/local-ca/atomic-file.ts';
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  randomSerialNumber,
  type LocalCa,
} from '../../resolvers/adapters/authority/local-ca/local-ca.ts';
import {
  ECDSA_WITH_SHA256,
  exportPrivateKeyPem,
  generateEcdsaP256KeyPair,
  importEcdsaP256PrivateKeyPem,
  keysMatch,
} from '../../resolvers/adapters/authority/local-ca/private-key-pem.ts';
import { x509 } from '../../resolvers/adapters/authority/local-ca/x509.ts';

export const TLS_SERVER_FILE = 'server.pem';

/** The names a client on this machine may use for the local server. Loopback only, never a LAN address. */
export const TLS_SERVER_NAMES: readonly x509.JsonGeneralName[] = [
  { type: 'dns', value: 'localhost' },
  { type: 'ip', value: '127.0.0.1' },
  { type: 'ip', value: '::1' },
];

const VALIDITY_MS = 365 * 24 * 60 * 60 * 1000;
const RENEW_BEFORE_EXPIRY_MS = 30 * 24 * 60 * 60 * 1000;

export interface TlsServerCredentials {
  /** PKCS#8 PEM, for `https.createServer({ key })`. */
  readonly keyPem: string;
  /** The server certificate followed by the CA certificate, for `https.createServer({ cert })`. */
  readonly certPem: string;
}

export interface LoadOrIssueTlsServerCertificateOptions {
  /** Default: now. */
  readonly now?: Date;
}

export async function loadOrIssueTlsServerCertificate(
  directory: string,
  ca: LocalCa,
  options: LoadOrIssueTlsServerCertificateOptions = {},
): Promise<TlsServerCredentials> {
  const now = options.now ?? new Date();
  const file = join(directory, TLS_SERVER_FILE);
  const stored = await readStored(file);
  if (stored !== undefined && (await isStillGood(stored, ca, now))) {
    return toCredentials(stored.keyPem, stored.certificate, ca);
  }
  const issued = await issueTlsServerCertificate(ca, now);
  const credentials = toCredentials(issued.keyPem, issued.certificate, ca);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${credentials.keyPem}\n${credentials.certPem}`, { mode: 0o600 });
  return credentials;
}

interface StoredServerCertificate {
  readonly keyPem: string;
  readonly certificate: x509.X509Certificate;
}

/** The stored key and certificate, or undefined when there is no file or it cannot be read as one. */
async function readStored(file: string): Promise<StoredServerCertificate | undefined> {
  const content = await readFileIfPresent(file);
  if (content === undefined) return undefined;
  try {
    const blocks = x509.PemConverter.decodeWithHeaders(content);
    const key = blocks.find((block) => block.type === 'PRIVATE KEY');
    const leaf = blocks.find((block) => block.type === 'CERTIFICATE');
    if (key === undefined || leaf === undefined) {
      return undefined;
    }
    return {
      keyPem: x509.PemConverter.encode(key.rawData, 'PRIVATE KEY'),
      certificate: new x509.X509Certificate(leaf.rawData),
    };
  } catch {
    // A damaged file is replaced, like an expired one: this certificate is cheap and only local.
    return undefined;
  }
}

async function isStillGood(stored: StoredServerCertificate, ca: LocalCa, now: Date): Promise<boolean> {
  const { certificate } = stored;
  if (certificate.notAfter.getTime() - now.getTime() < RENEW_BEFORE_EXPIRY_MS) {
    return false;
  }
  if (certificate.issuer !== ca.certificate.subject) {
    return false;
  }
  const signedByCa = await certificate.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true });
  if (!signedByCa) {
    return false;
  }
  try {
    return await keysMatch(await importEcdsaP256PrivateKeyPem(stored.keyPem), certificate.publicKey);
  } catch {
    return false;
  }
}

async function issueTlsServerCertificate(
  ca: LocalCa,
  now: Date,
): Promise<{ keyPem: string; certificate: x509.X509Certificate }> {
  const keys = await generateEcdsaP256KeyPair();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: ['localhost'] }],
    issuer: ca.certificate.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now.getTime() + VALIDITY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ECDSA_WITH_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDSA keys sign the handshake and never encrypt a key, so digitalSignature is the only usage.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...TLS_SERVER_NAMES]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier),
    ],
  });
  return { keyPem: await exportPrivateKeyPem(keys.privateKey), certificate };
}

function toCredentials(keyPem: string, certificate: x509.X509Certificate, ca: LocalCa): TlsServerCredentials {
  return { keyPem, certPem: `${certificate.toString('pem')}\n${ca.certificatePem}\n` };
}
