/**
 * A rotating device's input, checked before anything is read, and the one answer for a proof that fails.
 * Input that is malformed (a typing slip) is InvalidInput; input that is well-formed but proves nothing is
 * InvalidProof, whatever the reason, so that the answer tells nothing about the serial or its certificates.
 */
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { inspectCsr, type InspectedCsr } from '../csr.ts';
import { CvmError } from '../errors.ts';
import { requireSerialNumber } from '../identifiers.ts';
import { verifyPossessionProof } from './possession-proof.ts';
import type { ConfirmCertificateInput, RenewCertificateInput } from '../../../contract/api-types.ts';

type Unchecked<T> = { readonly [K in keyof T]?: unknown };

export interface Renewal {
  readonly serialNumber: string;
  readonly certificateId: string;
  readonly csr: InspectedCsr;
  readonly signature: string;
}

export interface Confirmation {
  readonly serialNumber: string;
  readonly certificateId: string;
  readonly signature: string;
}

/** AWS IoT certificate ids (and the local CA's): the lowercase hex SHA-256 of the certificate DER. */
const CERTIFICATE_ID = /^[0-9a-f]{64}$/;

export async function parseRenewal(input: Unchecked<RenewCertificateInput>): Promise<Renewal> {
  const { serialNumber, certificateId, signature } = parseConfirmation(input);
  if (typeof input.csr !== 'string' || input.csr.length === 0) {
    throw new CvmError('InvalidInput', 'csr must be a PEM certificate signing request for the new key.');
  }
  return { serialNumber, certificateId, signature, csr: await inspectCsr(input.csr, serialNumber) };
}

export function parseConfirmation(input: Unchecked<ConfirmCertificateInput>): Confirmation {
  const serialNumber = requireSerialNumber(input.serialNumber);
  if (typeof input.certificateId !== 'string' || !CERTIFICATE_ID.test(input.certificateId)) {
    throw new CvmError('InvalidInput', 'certificateId must be a certificate id: 64 lowercase hexadecimal characters.');
  }
  if (typeof input.signature !== 'string' || input.signature.length === 0) {
    throw new CvmError('InvalidInput', 'signature must be a base64 signature.');
  }
  return { serialNumber, certificateId: input.certificateId, signature: input.signature };
}

export function invalidProof(): CvmError {
  return new CvmError(
    'InvalidProof',
    "The serial number, certificate id and signature do not prove possession of that certificate's key for an enrolled device. Sign the SHA-256 of the DER you send (the new CSR to renew, the new certificate to confirm) with that certificate's private key.",
  );
}

/** Checked when there is nothing to check against, so that every failed proof costs the same. */
let decoyKey: KeyObject | undefined;

/**
 * Whether `signature` proves possession of the key of `certificatePem` over `signed`; with no certificate (unknown
 * serial, another certificate) the same work is done against a decoy key, and the answer is false.
 */
export function proves(certificatePem: string | undefined, signed: Uint8Array, signature: string): boolean {
  if (certificatePem !== undefined) return verifyPossessionProof({ certificatePem }, signed, signature);
  return provesNothing(signed, signature);
}

/**
 * `proves` over the certificate's own DER, what a confirmation signs: one parse of the certificate gives both the
 * key and the signed bytes.
 */
export function provesOverItsDer(certificatePem: string | undefined, signature: string): boolean {
  if (certificatePem === undefined) return provesNothing(new Uint8Array(), signature);
  const certificate = new X509Certificate(certificatePem);
  return verifyPossessionProof({ publicKey: certificate.publicKey }, new Uint8Array(certificate.raw), signature);
}

function provesNothing(signed: Uint8Array, signature: string): false {
  decoyKey ??= generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  verifyPossessionProof({ publicKey: decoyKey }, signed, signature);
  return false;
}
