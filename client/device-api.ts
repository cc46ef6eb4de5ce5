/** The one call a device makes, with its API key: a registration token and a CSR in, a certificate out. */
import type { GraphqlClient } from './graphql-client.ts';
import type { CertificateGrant } from './types.ts';

export interface RequestCertificateInput {
  readonly serialNumber: string;
  readonly registrationToken: string;
  /** PKCS#10 PEM. */
  readonly csr: string;
}

const REQUEST_CERTIFICATE = `mutation RequestCertificate($input: RequestCertificateInput!) {
  requestCertificate(input: $input) {
    serialNumber thingName certificateId certificateArn certificatePem caCertificatePem iotEndpoint issuedAt confirmBy
  }
}`;

export async function requestCertificate(
  client: GraphqlClient,
  input: RequestCertificateInput,
): Promise<CertificateGrant> {
  const data = await client.request<{ requestCertificate: CertificateGrant }>(REQUEST_CERTIFICATE, {
    input: { serialNumber: input.serialNumber, registrationToken: input.registrationToken, csr: input.csr },
  });
  return {
    ...data.requestCertificate,
    iotEndpoint: data.requestCertificate.iotEndpoint ?? null,
    confirmBy: data.requestCertificate.confirmBy ?? null,
  };
}
