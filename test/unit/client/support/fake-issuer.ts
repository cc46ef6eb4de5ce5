/**
 * Stands in for the server side of requestCertificate: a GraphqlClient whose answers a test scripts per call,
 * with a CA that really signs the CSR it is sent (so the device's key check has a real certificate to read).
 */
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import {
  BasicConstraintsExtension,
  Pkcs10CertificateRequest,
  X509CertificateGenerator,
  type PublicKeyType,
} from '@peculiar/x509';
import type { GraphqlClient, GraphqlVariables } from '../../../../client/graphql-client.ts';
import type { CertificateGrant } from '../../../../client/types.ts';

const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface TestCa {
  readonly certificatePem: string;
  /** Certify `publicKey` under the subject `subject`. */
  issue(subject: string, publicKey: PublicKeyType): Promise<string>;
}

export async function createTestCa(): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const caCertificate = await X509CertificateGenerator.createSelfSigned({
    name: 'CN=cvm test CA',
    keys,
    signingAlgorithm: SIGNING,
    extensions: [new BasicConstraintsExtension(true, undefined, true)],
  });
  return {
    certificatePem: caCertificate.toString('pem'),
    async issue(subject, publicKey) {
      const certificate = await X509CertificateGenerator.create({
        subject,
        issuer: caCertificate.subject,
        publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: SIGNING,
      });
      return certificate.toString('pem');
    },
  };
}

export interface RequestCertificateCall {
  readonly serialNumber: string;
  readonly registrationToken: string;
  readonly csr: string;
}

/** What one call answers: the default grant, or a thrown error, or a grant built by the test. */
export type CallScript = 'grant' | Error | ((call: RequestCertificateCall, ca: TestCa) => Promise<CertificateGrant>);

/** A grant for the CSR's own key, as the real service gives. */
export async function grantFor(call: RequestCertificateCall, ca: TestCa): Promise<CertificateGrant> {
  const csr = new Pkcs10CertificateRequest(call.csr);
  const certificatePem = await ca.issue(csr.subject, csr);
  const certificateId = createHash('sha256').update(new Uint8Array(csr.rawData)).digest('hex');
  return {
    serialNumber: call.serialNumber,
    thingName: `thing-${call.serialNumber}`,
    certificateId,
    certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${certificateId}`,
    certificatePem,
    caCertificatePem: ca.certificatePem,
    iotEndpoint: 'example-ats.iot.us-east-1.amazonaws.com',
    issuedAt: '2026-11-29T12:00:00.000Z',
    confirmBy: null,
  };
}

export interface ScriptedIssuer {
  readonly client: GraphqlClient;
  readonly calls: RequestCertificateCall[];
  readonly ca: TestCa;
}

/** Answers call n with `scripts[n]`, and every call past the script with a grant. */
export async function scriptedIssuer(scripts: readonly CallScript[] = []): Promise<ScriptedIssuer> {
  const ca = await createTestCa();
  const calls: RequestCertificateCall[] = [];
  const client: GraphqlClient = {
    async request<T>(query: string, variables?: GraphqlVariables): Promise<T> {
      if (!query.includes('requestCertificate(input: $input)')) throw new Error(`unexpected query: ${query}`);
      const call = (variables as { input: RequestCertificateCall }).input;
      calls.push(call);
      const script = scripts[calls.length - 1] ?? 'grant';
      if (script instanceof Error) throw script;
      const grant = script === 'grant' ? await grantFor(call, ca) : await script(call, ca);
      return { requestCertificate: grant } as T;
    },
  };
  return { client, calls, ca };
}
