/**
 * Amazon Root CA 1: the root that the AWS IoT `iot:Data-ATS` endpoint chains to, and so the CA a device must
 * trust to connect. Taken from the Mozilla store bundled with Node (`tls.rootCertificates`) rather than
 * copied into the code, so it can never be mistyped and follows Node's own updates.
 */
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';

const AMAZON_ROOT_CA_1_SUBJECT = { CN: 'Amazon Root CA 1', O: 'Amazon', C: 'US' } as const;

let cachedPem: string | undefined;

/** The PEM of Amazon Root CA 1 from Node's bundled root store; throws if this Node does not carry it. */
export function amazonRootCa1Pem(): string {
  cachedPem ??= findAmazonRootCa1(rootCertificates);
  return cachedPem;
}

/** Pick Amazon Root CA 1 out of a list of root PEMs (exported so the missing case can be tested). */
export function findAmazonRootCa1(pems: readonly string[]): string {
  // Parsing all ~140 roots costs cold-start time; the common name appears verbatim in the DER, so a byte search
  // picks the few candidates and Node's own X.509 parser (no library to load) confirms the subject.
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
  // Node writes the subject one `TYPE=value` per line (values with a newline or `=` would be escaped).
  const fields = new X509Certificate(pem).subject.split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1)] as const;
  });
  return Object.entries(AMAZON_ROOT_CA_1_SUBJECT).every(([type, value]) => {
    const values = fields.filter(([name]) => name === type).map(([, found]) => found);
    return values.length === 1 && values[0] === value;
  });
}
