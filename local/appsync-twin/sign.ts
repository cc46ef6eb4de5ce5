/**
 * Signs a GraphQL POST for AppSync's AWS_IAM mode (SigV4, service `appsync`), for tests and small clients.
 * The returned headers include `host` exactly as it must be sent (with the port), because the signature covers it.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface AppSyncSigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignAppSyncRequestParams {
  /** The GraphQL endpoint, e.g. https://127.0.0.1:4000/graphql. */
  readonly url: string;
  /** The exact body that will be sent. */
  readonly body: string;
  readonly region: string;
  readonly credentials: AppSyncSigningCredentials;
  /** Default: now. */
  readonly signingDate?: Date;
}

/** Headers to send with `body` to `url`: host, content-type, x-amz-date, authorization (and a session token). */
export async function signAppSyncRequest(params: SignAppSyncRequestParams): Promise<Record<string, string>> {
  const url = new URL(params.url);
  const query: Record<string, string> = {};
  url.searchParams.forEach((value, key) => {
    query[key] = value;
  });
  const signer = new SignatureV4({
    service: 'appsync',
    region: params.region,
    credentials: params.credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query,
      headers: { host: url.host, 'content-type': 'application/json' },
      body: params.body,
    }),
    params.signingDate === undefined ? {} : { signingDate: params.signingDate },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name] = String(value);
  return headers;
}
