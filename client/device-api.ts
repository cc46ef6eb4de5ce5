/**
 * The calls a device makes, with its API key: enroll (a registration token and a CSR in, a certificate out), and
 * rotate (renew with a proof made with the current key, then confirm with a proof made with the new one).
 */
import type { GraphqlClient } from './graphql-client.ts';
import type { CertificateGrant, ConfirmCertificateInput, Device, RenewCertificateInput } from './types.ts';
import { DEVICE_FIELDS, fromWireDevice, type WireDevice } from './wire.ts';

export interface RequestCertificateInput {
  readonly serialNumber: string;
  readonly registrationToken: string;
  /** PKCS#10 PEM. */
  readonly csr: string;
}

const GRANT_FIELDS =
  'serialNumber thingName certificateId certificateArn certificatePem caCertificatePem iotEndpoint issuedAt confirmBy';

const REQUEST_CERTIFICATE = `mutation RequestCertificate($input: RequestCertificateInput!) {
  requestCertificate(input: $input) { ${GRANT_FIELDS} }
}`;
const RENEW_CERTIFICATE = `mutation RenewCertificate($input: RenewCertificateInput!) {
  renewCertificate(input: $input) { ${GRANT_FIELDS} }
}`;
const CONFIRM_CERTIFICATE = `mutation ConfirmCertificate($input: ConfirmCertificateInput!) {
  confirmCertificate(input: $input) { ${DEVICE_FIELDS} }
}`;

export async function requestCertificate(
  client: GraphqlClient,
  input: RequestCertificateInput,
): Promise<CertificateGrant> {
  const data = await client.request<{ requestCertificate: CertificateGrant }>(REQUEST_CERTIFICATE, {
    input: { serialNumber: input.serialNumber, registrationToken: input.registrationToken, csr: input.csr },
  });
  return withNulls(data.requestCertificate);
}

/**
 * A second certificate for an enrolled device, pending its confirmation until the grant's confirmBy. The same
 * request repeated (same key) answers the same certificate; InvalidProof when the signature, the certificate id or
 * the device's state does not prove possession of its current certificate's key.
 */
export async function renewCertificate(client: GraphqlClient, input: RenewCertificateInput): Promise<CertificateGrant> {
  const data = await client.request<{ renewCertificate: CertificateGrant }>(RENEW_CERTIFICATE, {
    input: {
      serialNumber: input.serialNumber,
      certificateId: input.certificateId,
      csr: input.csr,
      signature: input.signature,
    },
  });
  return withNulls(data.renewCertificate);
}

/**
 * Make the pending certificate the device's (the old one is revoked). Safe to repeat: once confirmed, it answers
 * the device with the new certificate as its certificateId.
 */
export async function confirmCertificate(client: GraphqlClient, input: ConfirmCertificateInput): Promise<Device> {
  const data = await client.request<{ confirmCertificate: WireDevice }>(CONFIRM_CERTIFICATE, {
    input: { serialNumber: input.serialNumber, certificateId: input.certificateId, signature: input.signature },
  });
  return fromWireDevice(data.confirmCertificate);
}

function withNulls(grant: CertificateGrant): CertificateGrant {
  return { ...grant, iotEndpoint: grant.iotEndpoint ?? null, confirmBy: grant.confirmBy ?? null };
}
