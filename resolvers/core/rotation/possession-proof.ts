/**
 * Proof that a caller holds a private key, for certificate rotation: a signature made with that key over the
 * SHA-256 of given bytes (the new CSR's DER when renewing, the new certificate's DER when confirming), exactly as
 *
 *   openssl dgst -sha256 -sign current.key -out proof.sig new.csr.der
 *
 * makes it: ECDSA with a DER-encoded signature, or RSA PKCS#1 v1.5. Nothing else is accepted (no PSS, no raw
 * r||s ECDSA), so a proof has one meaning.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/** A base64 signature longer than this is refused unread: RSA 4096 signs in 512 bytes, ECDSA P-521 in ~139. */
const MAX_SIGNATURE_BASE64_LENGTH = 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Whether `signatureBase64` is a signature over SHA-256(`signed`) by the private half of the public key in
 * `certificatePem` (an X.509 certificate) or `publicKey` (a KeyObject). Never throws for a malformed signature:
 * a proof that cannot be read is a proof that fails.
 */
export function verifyPossessionProof(
  key: { readonly certificatePem: string } | { readonly publicKey: KeyObject },
  signed: Uint8Array,
  signatureBase64: unknown,
): boolean {
  if (
    typeof signatureBase64 !== 'string' ||
    signatureBase64.length === 0 ||
    signatureBase64.length > MAX_SIGNATURE_BASE64_LENGTH ||
    !BASE64.test(signatureBase64)
  ) {
    return false;
  }
  const publicKey = 'publicKey' in key ? key.publicKey : publicKeyOf(key.certificatePem);
  if (publicKey === undefined) return false;
  const signature = Buffer.from(signatureBase64, 'base64');
  try {
    if (publicKey.asymmetricKeyType === 'ec') {
      return verify('sha256', signed, { key: publicKey, dsaEncoding: 'der' }, signature);
    }
    if (publicKey.asymmetricKeyType === 'rsa') {
      return verify('sha256', signed, publicKey, signature);
    }
    return false;
  } catch {
    return false;
  }
}

function publicKeyOf(certificatePem: string): KeyObject | undefined {
  try {
    return createPublicKey(certificatePem);
  } catch {
    return undefined;
  }
}
