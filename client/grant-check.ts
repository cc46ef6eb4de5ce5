/**
 * What a device checks in a grant before it writes anything (at enrollment and at rotation): a certificate for
 * another key, or a CA that is not one, would leave it unable to connect.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { CertificateGrant } from './types.ts';

export type GrantProblem =
  | { readonly problem: 'unreadable'; readonly cause: unknown }
  | { readonly problem: 'not a CA' }
  | { readonly problem: 'another key' };

/** What makes the grant unusable for a device holding `publicKey`, or undefined when it is usable. */
export function grantProblem(grant: CertificateGrant, publicKey: KeyObject): GrantProblem | undefined {
  let certificate: X509Certificate;
  let caIsCa: boolean;
  try {
    certificate = new X509Certificate(grant.certificatePem);
    caIsCa = new X509Certificate(grant.caCertificatePem).ca;
  } catch (cause) {
    return { problem: 'unreadable', cause };
  }
  if (!caIsCa) return { problem: 'not a CA' };
  // Re-encoding both through OpenSSL compares the keys, not two possibly different encodings of one key.
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  return spki(certificate.publicKey).equals(spki(publicKey)) ? undefined : { problem: 'another key' };
}

/** PEM as a file holds it: ending with a newline. */
export function withFinalNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
