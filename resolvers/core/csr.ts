/**
 * Checks a device's certificate signing request before anything is written or issued.
 *
 * What AWS IoT's CreateCertificateFromCsr accepts is the outer bound (PEM of at most 4096 characters,
 * RSA keys of 2048 bits or more, EC keys on P-256/P-384/P-521, SHA-2 signatures); cvm adds the checks
 * that bind the request to the device: the signature verifies (the caller holds the private key) and
 * the subject has exactly one CN, equal to the serial number byte for byte.
 */
import 'reflect-metadata';
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { CvmError } from './errors.ts';

/** X.520 commonName. */
const COMMON_NAME_OID = '2.5.4.3';

/** The CreateCertificateFromCsr limit on `certificateSigningRequest`. */
export const MAX_CSR_PEM_LENGTH = 4096;
export const MIN_RSA_MODULUS_BITS = 2048;

const PEM_BLOCK =
  /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END CERTIFICATE REQUEST-----\s*$/;

/**
 * Signature algorithms AWS IoT accepts in a CSR (PKCS#1 v1.5 RSA and ECDSA with SHA-2), by OID, with the
 * hash and the key type each one needs.
 */
const ACCEPTED_SIGNATURE_ALGORITHMS: ReadonlyMap<string, { hash: string; keyType: 'rsa' | 'ec' }> = new Map([
  ['1.2.840.113549.1.1.11', { hash: 'sha256', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.12', { hash: 'sha384', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.13', { hash: 'sha512', keyType: 'rsa' }],
  ['1.2.840.10045.4.3.2', { hash: 'sha256', keyType: 'ec' }],
  ['1.2.840.10045.4.3.3', { hash: 'sha384', keyType: 'ec' }],
  ['1.2.840.10045.4.3.4', { hash: 'sha512', keyType: 'ec' }],
] as const);

/** Node's names for the curves AWS IoT accepts, and how we print them. */
const ACCEPTED_CURVES: ReadonlyMap<string, string> = new Map([
  ['prime256v1', 'P-256'],
  ['secp384r1', 'P-384'],
  ['secp521r1', 'P-521'],
]);

export interface InspectedCsr {
  /** The PEM as given (normalized line endings are not needed: AWS IoT takes it as is). */
  readonly pem: string;
  /** Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER: identifies the device key across retries. */
  readonly publicKeyFingerprint: string;
  /** e.g. `EC P-256` or `RSA 2048`, for logs and audit events. */
  readonly keyDescription: string;
}

/**
 * Parse and verify a CSR for `serialNumber`.
 * @throws CvmError `InvalidCsr` when it is not a well-formed, self-signed CSR with an accepted key,
 *   `CsrSubjectMismatch` when its subject is not exactly one CN equal to the serial.
 */
export async function inspectCsr(pem: string, serialNumber: string): Promise<InspectedCsr> {
  if (pem.length > MAX_CSR_PEM_LENGTH) {
    throw invalidCsr(`The CSR is ${pem.length} characters long; at most ${MAX_CSR_PEM_LENGTH} are accepted.`);
  }
  const der = decodePem(pem);

  let asn: CertificationRequest;
  try {
    asn = AsnConvert.parse(der, CertificationRequest);
  } catch (error) {
    throw invalidCsr('The CSR is not a valid PKCS#10 structure.', error);
  }
  // Trailing bytes or a non-canonical encoding would let two different byte strings mean one request.
  if (!sameBytes(new Uint8Array(AsnConvert.serialize(asn)), der)) {
    throw invalidCsr('The CSR is not DER encoded (it has trailing or non-canonical bytes).');
  }

  const signatureAlgorithm = asn.signatureAlgorithm.algorithm;
  const accepted = ACCEPTED_SIGNATURE_ALGORITHMS.get(signatureAlgorithm);
  if (accepted === undefined) {
    throw invalidCsr(
      `The CSR is signed with algorithm ${signatureAlgorithm}; use SHA-256, SHA-384 or SHA-512 with RSA (PKCS#1 v1.5) or ECDSA.`,
    );
  }

  const info = asn.certificationRequestInfo;
  const spki = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo));
  const { key, description: keyDescription } = acceptedKey(spki);

  // Node's own verify on the exact signed bytes (the DER check above makes re-serialization byte-exact):
  // the same check as @peculiar/x509's verify(), at a third of the cost on the hot path.
  let signatureValid = false;
  try {
    signatureValid =
      key.asymmetricKeyType === accepted.keyType &&
      verify(accepted.hash, new Uint8Array(AsnConvert.serialize(info)), key, new Uint8Array(asn.signature));
  } catch (error) {
    throw invalidCsr('The CSR signature could not be checked.', error);
  }
  if (!signatureValid) {
    throw invalidCsr('The CSR signature does not verify with its own public key; sign it with the device key.');
  }

  // Read straight from the parsed subject, as @peculiar/x509's Name.getField('CN') does, without loading that
  // library (and its dependency container) into the Lambda: it is most of the resolver's start-up time.
  const commonNames = info.subject.flatMap((rdn) =>
    rdn.filter((attribute) => attribute.type === COMMON_NAME_OID).map((attribute) => attribute.value.toString()),
  );
  if (commonNames.length !== 1) {
    throw new CvmError(
      'CsrSubjectMismatch',
      `The CSR subject must have exactly one CN (the serial number); it has ${commonNames.length}.`,
    );
  }
  if (commonNames[0] !== serialNumber) {
    throw new CvmError('CsrSubjectMismatch', 'The CSR subject CN must equal the serial number exactly.');
  }

  return {
    pem,
    publicKeyFingerprint: createHash('sha256').update(spki).digest('hex'),
    keyDescription,
  };
}

function decodePem(pem: string): Uint8Array {
  const match = PEM_BLOCK.exec(pem.trimStart());
  if (!match?.[1]) {
    throw invalidCsr(
      'The CSR must be one PEM block: -----BEGIN CERTIFICATE REQUEST----- … -----END CERTIFICATE REQUEST-----.',
    );
  }
  // The pattern admits only base64 characters; whatever they decode to is checked as strict DER next.
  const der = Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
  if (der.length === 0) throw invalidCsr('The CSR PEM block is empty.');
  return new Uint8Array(der);
}

function acceptedKey(spki: Uint8Array): { key: KeyObject; description: string } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw invalidCsr('The CSR public key cannot be read.', error);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_MODULUS_BITS) {
      throw invalidCsr(`The CSR key is RSA ${bits}; AWS IoT needs RSA keys of at least ${MIN_RSA_MODULUS_BITS} bits.`);
    }
    return { key, description: `RSA ${bits}` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = ACCEPTED_CURVES.get(details.namedCurve ?? '');
    if (!curve) {
      throw invalidCsr(`The CSR key is on curve ${details.namedCurve ?? 'unknown'}; use P-256, P-384 or P-521.`);
    }
    return { key, description: `EC ${curve}` };
  }
  throw invalidCsr(
    `The CSR key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted; use RSA (2048+) or EC P-256/P-384/P-521.`,
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

function invalidCsr(message: string, cause?: unknown): CvmError {
  return new CvmError('InvalidCsr', message, cause === undefined ? undefined : { cause });
}
