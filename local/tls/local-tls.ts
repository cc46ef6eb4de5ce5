/**
 * The local stack's TLS material, apart from the certificate authority that stands in for AWS IoT: a TLS CA
 * (AWS: Amazon Root CA 1) that signs the certificate of every local server a device or admin talks to (the
 * GraphQL twin, the MQTT endpoint). Kept under `<dir>/ca/tls/` and `<dir>/tls/server.pem`.
 */
import { join } from 'node:path';
import { loadOrCreateCa } from '../../resolvers/adapters/authority/local-ca/ca-store.ts';
import { loadOrIssueTlsServerCertificate, type TlsServerCredentials } from './tls-certificate.ts';

export const TLS_CA_COMMON_NAME = 'cvm local TLS CA';

export interface LocalTls {
  /** What a client of the local servers trusts: PEM and the path of its file (for openssl, curl --cacert). */
  readonly ca: { readonly certPem: string; readonly certFile: string };
  /** Key and certificate chain for the local servers (localhost, 127.0.0.1, ::1). */
  readonly server: TlsServerCredentials;
}

/** Open (creating on first use) the TLS CA and the server certificate it signs. */
export async function openLocalTls(dir: string): Promise<LocalTls> {
  const ca = await loadOrCreateCa(join(dir, 'ca', 'tls'), { commonName: TLS_CA_COMMON_NAME });
  const server = await loadOrIssueTlsServerCertificate(join(dir, 'tls'), ca);
  return { ca: { certPem: ca.certificatePem, certFile: ca.certificateFile }, server };
}
