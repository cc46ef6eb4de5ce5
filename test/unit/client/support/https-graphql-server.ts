/**
 * A tiny HTTPS server on 127.0.0.1 that plays a GraphQL endpoint: it records each request and answers
 * what the test scripts. The certificate is self-signed for 127.0.0.1 with @peculiar/x509.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A JSON body (or a raw string) with a status (default 200); `hang` never answers. */
export type ScriptedAnswer =
  | { readonly status?: number; readonly json: unknown }
  | { readonly status?: number; readonly text: string }
  | 'hang';

export type Responder = (request: RecordedRequest) => ScriptedAnswer | Promise<ScriptedAnswer>;

export interface TestGraphqlServer {
  readonly url: string;
  /** PEM of the self-signed server certificate: what a client must trust. */
  readonly caPem: string;
  readonly requests: RecordedRequest[];
  respondWith(responder: Responder): void;
  close(): Promise<void>;
}

export interface SelfSignedTls {
  readonly keyPem: string;
  readonly certPem: string;
}

export async function createSelfSignedTls(commonName = '127.0.0.1'): Promise<SelfSignedTls> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const certificate = await X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign, true),
      new SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{1,64}/g, '$&\n')}-----END PRIVATE KEY-----\n`;
  return { keyPem, certPem: certificate.toString('pem') };
}

export async function startTestGraphqlServer(
  responder: Responder = () => ({ json: { data: {} } }),
): Promise<TestGraphqlServer> {
  const tls = await createSelfSignedTls();
  const requests: RecordedRequest[] = [];
  let respond = responder;
  const server: Server = createServer({ key: tls.keyPem, cert: tls.certPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const recorded: RecordedRequest = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      void Promise.resolve(respond(recorded)).then((answer) => {
        if (answer === 'hang') return;
        const body = 'json' in answer ? JSON.stringify(answer.json) : answer.text;
        response.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/graphql`,
    caPem: tls.certPem,
    requests,
    respondWith: (next) => {
      respond = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The parsed body of a recorded GraphQL request. */
export function graphqlBody(request: RecordedRequest): { query: string; variables?: Record<string, unknown> } {
  return JSON.parse(request.body) as { query: string; variables?: Record<string, unknown> };
}
