/** Who a certificate was made for: its subject CN (cvm makes it the serial number) and its key's fingerprint. */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';

export interface CertificateSubject {
  readonly commonName: string | undefined;
  /** Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER, as the CSR check computes it. */
  readonly publicKeyFingerprint: string;
}

/** Undefined for a PEM that is not a certificate: it cannot be cvm's. */
export function certificateSubject(pem: string): CertificateSubject | undefined {
  try {
    const certificate = new X509Certificate(pem);
    const commonNames = certificate.subjectName.getField('CN');
    return {
      commonName: commonNames.length === 1 ? commonNames[0] : undefined,
      publicKeyFingerprint: createHash('sha256').update(Buffer.from(certificate.publicKey.rawData)).digest('hex'),
    };
  } catch {
    return undefined;
  }
}
