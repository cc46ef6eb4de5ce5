/**
 * Checks a device's certificate signing request before anything is written or issued.
 *
 * What AWS IoT's CreateCertificateFromCsr accepts is the outer bound (PEM of at most 4096 characters,
 * RSA keys of 2048 bits or more, EC keys on P-256/P-384/P-521, SHA-2 signatures); cvm adds the checks
 * that bind the request to the device: the signature verifies (the caller holds the private key) and
 * the subject has exactly one CN, equal to the serial number byte for byte. And it is strict: DER only, EC keys
 * on named curves only, algorithm parameters exactly as the standards write them, and any byte string the ASN.1
 * library cannot handle is the caller's `InvalidCsr`, never a server fault.
 */
import 'reflect-metadata';
import { verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { CvmError, isCvmError } from './errors.ts';
import { parseStrictDer } from './strict-der.ts';
import { acceptedKey, DER_NULL, parametersHex, publicKeyFingerprint, type KeyRefusal } from './public-key.ts';

type AlgorithmIdentifier = CertificationRequest['signatureAlgorithm'];
type Name = CertificationRequest['certificationRequestInfo']['subject'];

/** The CreateCertificateFromCsr limit on `certificateSigningRequest`. */
export const MAX_CSR_PEM_LENGTH = 4096;

const PEM_BLOCK =
  /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END CERTIFICATE REQUEST-----\s*$/;

interface SignatureAlgorithm {
  readonly hash: string;
  readonly keyType: 'rsa' | 'ec';
}
/**
 * Signature algorithms AWS IoT accepts in a CSR (PKCS#1 v1.5 RSA and ECDSA with SHA-2), by OID, with the
 * hash and the key type each one needs.
 */
const ACCEPTED_SIGNATURE_ALGORITHMS: ReadonlyMap<string, SignatureAlgorithm> = new Map([
  ['1.2.840.113549.1.1.11', { hash: 'sha256', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.12', { hash: 'sha384', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.13', { hash: 'sha512', keyType: 'rsa' }],
  ['1.2.840.10045.4.3.2', { hash: 'sha256', keyType: 'ec' }],
  ['1.2.840.10045.4.3.3', { hash: 'sha384', keyType: 'ec' }],
  ['1.2.840.10045.4.3.4', { hash: 'sha512', keyType: 'ec' }],
] as const);

const COMMON_NAME = '2.5.4.3';

/** The CSR's key, under the rules every key cvm accepts must meet (public-key.ts). */
const CSR_KEY: KeyRefusal = { subject: 'The CSR key', refuse: (message, cause) => invalidCsr(message, cause) };

export interface InspectedCsr {
  /** The PEM as given (normalized line endings are not needed: AWS IoT takes it as is). */
  readonly pem: string;
  /** The CSR's DER: what a renewal's possession proof signs. */
  readonly der: Uint8Array;
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
export function inspectCsr(pem: string, serialNumber: string): Promise<InspectedCsr> {
  try {
    return Promise.resolve(inspectCsrStrictly(pem, serialNumber));
  } catch (error) {
    // Every refusal below is typed; anything else is the ASN.1 or crypto library choking on bytes a device chose,
    // which is still the device's bad CSR, never a server fault.
    return Promise.reject(isCvmError(error) ? error : invalidCsr('The CSR could not be read.', error));
  }
}

function inspectCsrStrictly(pem: string, serialNumber: string): InspectedCsr {
  if (pem.length > MAX_CSR_PEM_LENGTH) {
    throw invalidCsr(`The CSR is ${pem.length} characters long; at most ${MAX_CSR_PEM_LENGTH} are accepted.`);
  }
  const der = decodePem(pem);
  const asn = parseCsrDer(der);

  const accepted = acceptedSignatureAlgorithm(asn.signatureAlgorithm);
  const info = asn.certificationRequestInfo;
  const spki = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo));
  const { key, description: keyDescription } = acceptedKey(info.subjectPKInfo.algorithm, spki, CSR_KEY);

  // Node's own verify on the exact signed bytes (strict DER makes re-serialization byte-exact):
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

  const commonNames = commonNamesOf(info.subject);
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
    der,
    publicKeyFingerprint: publicKeyFingerprint(spki),
    keyDescription,
  };
}

/** Parse PKCS#10, strictly DER (strict-der.ts says why). */
function parseCsrDer(der: Uint8Array): CertificationRequest {
  const result = parseStrictDer(der, CertificationRequest);
  if ('parsed' in result) return result.parsed;
  if (result.refused === 'unparsable') throw invalidCsr('The CSR is not a valid PKCS#10 structure.', result.cause);
  throw invalidCsr('The CSR is not DER encoded (it has trailing or non-canonical bytes).');
}

/**
 * The signature algorithm, with its parameters exactly as the standards write them: absent for ECDSA
 * (RFC 5758 section 3.2), NULL for RSA PKCS#1 v1.5 (RFC 4055 section 5 has producers write NULL; every CSR
 * generator does). RSASSA-PSS is refused: its parameters (hash, mask function, salt) are a second place for
 * a key and a signature to disagree, and a device that holds an RSA key can sign PKCS#1 v1.5.
 */
function acceptedSignatureAlgorithm(algorithm: AlgorithmIdentifier): SignatureAlgorithm {
  const accepted = ACCEPTED_SIGNATURE_ALGORITHMS.get(algorithm.algorithm);
  if (accepted === undefined) {
    throw invalidCsr(
      `The CSR is signed with algorithm ${algorithm.algorithm}; use SHA-256, SHA-384 or SHA-512 with RSA (PKCS#1 v1.5) or ECDSA.`,
    );
  }
  const parameters = parametersHex(algorithm);
  if (accepted.keyType === 'ec' && parameters !== undefined) {
    throw invalidCsr('The CSR signature algorithm (ECDSA) must have no parameters.');
  }
  if (accepted.keyType === 'rsa' && parameters !== DER_NULL) {
    throw invalidCsr('The CSR signature algorithm (RSA PKCS#1 v1.5) must have NULL parameters.');
  }
  return accepted;
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

/**
 * The subject's CN values. A CN must be a UTF8String or a PrintableString (what RFC 5280 has issuers write):
 * the ASN.1 library renders a value of any other type as the hex of its encoding, so a NumericString "1" would
 * otherwise read as "120131" and match a device of that serial.
 */
function commonNamesOf(subject: Name): string[] {
  const values: string[] = [];
  for (const relativeName of subject) {
    for (const attribute of relativeName) {
      if (attribute.type !== COMMON_NAME) continue;
      const text = attribute.value.utf8String ?? attribute.value.printableString;
      if (text === undefined) {
        throw new CvmError('CsrSubjectMismatch', 'The CSR subject CN must be a UTF8String or a PrintableString.');
      }
      values.push(text);
    }
  }
  return values;
}

function invalidCsr(message: string, cause?: unknown): CvmError {
  return new CvmError('InvalidCsr', message, cause === undefined ? undefined : { cause });
}
