/**
 * Signing a device's CSR the way AWS IoT's CreateCertificateFromCsr does: the CSR's subject and public
 * key, a validity that ends on 2049-12-31T23:59:59Z, client-authentication usage only, and an id that is
 * the SHA-256 of the certificate's DER.
 *
 * A certificate never outlives the CA that signs it: a chain stops verifying when its CA expires, so a leaf
 * past that date would only look valid. Device CAs made before they were given AWS IoT's end date (10 years
 * from creation) therefore sign certificates that end with them.
 */
import { CsrRejectedError } from './errors.ts';
import { CLOCK_SKEW_ALLOWANCE_MS, randomSerialNumber, type LocalCa } from './local-ca.ts';
import { ECDSA_WITH_SHA256 } from './private-key-pem.ts';
import { webcrypto, x509 } from './x509.ts';

/** What AWS IoT puts in notAfter of every certificate it makes from a CSR. */
export const DEVICE_CERTIFICATE_NOT_AFTER = new Date('2049-12-31T23:59:59Z');

export interface IssuedCertificate {
  /** Lowercase hex SHA-256 of the certificate DER, as AWS IoT computes certificate ids. */
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly certificate: x509.X509Certificate;
}

export interface IssueDeviceCertificateOptions {
  /** Time of issue; notBefore is set a few minutes earlier for clock skew. Default: now. */
  readonly now?: Date;
}

export async function issueDeviceCertificate(
  ca: LocalCa,
  csrPem: string,
  options: IssueDeviceCertificateOptions = {},
): Promise<IssuedCertificate> {
  const csr = parseCsr(csrPem);
  assertAcceptedKey(csr.publicKey.algorithm);
  // The core verified this signature already; a CA signs nothing on someone else's word.
  await assertSignedByItsKey(csr);
  const now = options.now ?? new Date();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: csr.subjectName,
    issuer: ca.certificate.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: earlier(DEVICE_CERTIFICATE_NOT_AFTER, ca.certificate.notAfter),
    publicKey: csr.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ECDSA_WITH_SHA256,
    extensions: [...sameForEveryDevice(ca), await x509.SubjectKeyIdentifierExtension.create(csr.publicKey)],
  });
  return {
    certificateId: await certificateIdOf(certificate),
    certificatePem: certificate.toString('pem'),
    certificate,
  };
}

function earlier(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

const extensionsByCa = new WeakMap<LocalCa, readonly x509.Extension[]>();

/**
 * The extensions that do not depend on the device, built once per CA: building them costs the library
 * more than signing does, and they are immutable once encoded.
 */
function sameForEveryDevice(ca: LocalCa): readonly x509.Extension[] {
  let extensions = extensionsByCa.get(ca);
  if (extensions === undefined) {
    extensions = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier),
    ];
    extensionsByCa.set(ca, extensions);
  }
  return extensions;
}

/** Lowercase hex SHA-256 of the DER: the id AWS IoT gives a certificate. */
export async function certificateIdOf(certificate: x509.X509Certificate): Promise<string> {
  const digest = await webcrypto.subtle.digest('SHA-256', certificate.rawData);
  return Buffer.from(digest).toString('hex');
}

function parseCsr(csrPem: string): x509.Pkcs10CertificateRequest {
  // The library also reads DER, hex and base64; AWS IoT takes PEM only, and so does this stand-in.
  if (!x509.PemConverter.isPem(csrPem)) {
    throw new CsrRejectedError('The CSR is not PEM-encoded.');
  }
  try {
    return new x509.Pkcs10CertificateRequest(csrPem);
  } catch (error) {
    throw new CsrRejectedError('The CSR cannot be parsed as PKCS#10.', { cause: error });
  }
}

/** The keys AWS IoT accepts in a CSR: RSA of 2048 bits or more, or EC on P-256, P-384 or P-521. */
function assertAcceptedKey(algorithm: x509.PublicKey['algorithm']): void {
  const accepted =
    (algorithm.name === 'ECDSA' && ACCEPTED_CURVES.has(String((algorithm as EcKeyAlgorithmLike).namedCurve))) ||
    (algorithm.name === 'RSASSA-PKCS1-v1_5' && Number((algorithm as RsaKeyAlgorithmLike).modulusLength) >= 2048);
  if (!accepted) {
    throw new CsrRejectedError('The CSR key must be RSA of at least 2048 bits or EC on P-256, P-384 or P-521.');
  }
}

const ACCEPTED_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521']);

interface EcKeyAlgorithmLike {
  readonly namedCurve?: unknown;
}
interface RsaKeyAlgorithmLike {
  readonly modulusLength?: unknown;
}

async function assertSignedByItsKey(csr: x509.Pkcs10CertificateRequest): Promise<void> {
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (error) {
    throw new CsrRejectedError('The CSR signature cannot be checked.', { cause: error });
  }
  if (!valid) {
    throw new CsrRejectedError('The CSR signature does not match its public key.');
  }
}
