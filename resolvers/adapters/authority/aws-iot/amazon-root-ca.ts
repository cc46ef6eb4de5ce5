/**
 * Amazon Root CA 1: the root that the AWS IoT `iot:Data-ATS` endpoint chains to, and so the CA a device must
 * trust to connect. Taken from the Mozilla store bundled with Node (`tls.rootCertificates`) rather than
 * copied into the code, so it can never be mistyped and follows Node's own updates.
 */
import 'reflect-metadata';
import { rootCertificates } from 'node:tls';
import { X509Certificate } from '@peculiar/x509';

const AMAZON_ROOT_CA_1_SUBJECT = { CN: 'Amazon Root CA 1', O: 'Amazon', C: 'US' } as const;

let cachedPem: string | undefined;

/** The PEM of Amazon Root CA 1 from Node's bundled root store; throws if this Node does not carry it. */
export function amazonRootCa1Pem(): string {
  cachedPem ??= findAmazonRootCa1(rootCertificates);
  return cachedPem;
}

/** Pick Amazon Root CA 1 out of a list of root PEMs (exported so the missing case can be tested). */
export function findAmazonRootCa1(pems: readonly string[]): string {
  // Parsing all ~140 roots with @peculiar/x509 costs a few hundred milliseconds of cold start; the common name
  // appears verbatim in the DER, so a byte search picks the few candidates and the parser confirms the subject.
  const commonName = Buffer.from(AMAZON_ROOT_CA_1_SUBJECT.CN, 'utf8');
  const found = pems.find((pem) => pemDer(pem).includes(commonName) && hasAmazonRootCa1Subject(pem));
  if (found === undefined) {
    throw new Error(
      'Amazon Root CA 1 (CN=Amazon Root CA 1, O=Amazon, C=US) is missing from the root certificates bundled with ' +
        'this Node, so devices cannot be told which CA to trust for the AWS IoT endpoint',
    );
  }
  // Node's entries lack the final newline that PEM files conventionally end with.
  return found.endsWith('\n') ? found : `${found}\n`;
}

function pemDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

function hasAmazonRootCa1Subject(pem: string): boolean {
  const subject = new X509Certificate(pem).subjectName;
  return Object.entries(AMAZON_ROOT_CA_1_SUBJECT).every(([type, value]) => {
    const values = subject.getField(type);
    return values.length === 1 && values[0] === value;
  });
}
