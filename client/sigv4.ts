/**
 * SigV4 for AppSync's AWS_IAM mode (service `appsync`): the admin client signs with it, and tests use it to
 * sign raw requests. AppSync does not need the payload-hash header, so the signature covers exactly host,
 * content-type, x-amz-date and (with temporary credentials) x-amz-security-token.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4, type SignatureV4Init } from '@smithy/signature-v4';

/** Static credentials or a provider (e.g. the AWS default chain). */
export type AppSyncCredentials = SignatureV4Init['credentials'];

export interface AppSyncSignerOptions {
  /** The GraphQL endpoint, e.g. https://127.0.0.1:4000/graphql. */
  readonly url: URL;
  readonly region: string;
  readonly credentials: AppSyncCredentials;
}

/** Headers to send with `body`, `host` included exactly as signed (with the port). */
export type AppSyncSigner = (body: string, signingDate?: Date) => Promise<Record<string, string>>;

export function createAppSyncSigner(options: AppSyncSignerOptions): AppSyncSigner {
  const { url } = options;
  const signer = new SignatureV4({
    service: 'appsync',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  return async (body, signingDate) => {
    const signed = await signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { host: url.host, 'content-type': 'application/json' },
        body,
      }),
      signingDate === undefined ? {} : { signingDate },
    );
    return signed.headers;
  };
}

/** Sign one GraphQL POST. */
export function signAppSyncRequest(params: {
  readonly url: string;
  readonly body: string;
  readonly region: string;
  readonly credentials: AppSyncCredentials;
  readonly signingDate?: Date;
}): Promise<Record<string, string>> {
  return createAppSyncSigner({ url: new URL(params.url), region: params.region, credentials: params.credentials })(
    params.body,
    params.signingDate,
  );
}
