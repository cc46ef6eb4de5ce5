/**
 * The devices of the local HTTPS figure (local-https.ts), in a process of their own as devices are: each round,
 * they enroll the devices they are given over HTTPS, so many at a time, with the project's GraphQL client, and say
 * how long the round took. Started by local-https.ts with an IPC channel; never run by hand.
 *
 * Messages in: `{ kind: 'round', devices: [{ serial, token, csr }] }`, then `'stop'`.
 * Messages out: `{ kind: 'ready' }` once loaded, then `{ kind: 'done', ms }` or `{ kind: 'failed', message }` for
 * each round.
 */
import { performance } from 'node:perf_hooks';
import { createGraphqlClient } from '../../client/graphql-client.ts';
import { runPool } from './run-pool.ts';

export interface DevicesSetup {
  readonly graphqlUrl: string;
  readonly tlsCa: string;
  readonly apiKey: string;
  readonly concurrency: number;
}

export interface DeviceToEnroll {
  readonly serial: string;
  readonly token: string;
  readonly csr: string;
}

export type DevicesMessage = { readonly kind: 'round'; readonly devices: readonly DeviceToEnroll[] } | 'stop';

export type DevicesAnswer =
  | { readonly kind: 'ready' }
  | { readonly kind: 'done'; readonly ms: number }
  | { readonly kind: 'failed'; readonly message: string };

const ENROLL = 'mutation($input: RequestCertificateInput!) { requestCertificate(input: $input) { certificateId } }';

function main(): void {
  const setup = JSON.parse(process.env.CVM_BENCH_DEVICES ?? '{}') as DevicesSetup;
  const client = createGraphqlClient({
    url: setup.graphqlUrl,
    ca: setup.tlsCa,
    auth: { kind: 'apiKey', apiKey: setup.apiKey },
  });
  const answer = (message: DevicesAnswer) => process.send?.(message);
  process.on('message', (message: DevicesMessage) => {
    if (message === 'stop') {
      process.disconnect();
      return;
    }
    const started = performance.now();
    runPool(message.devices, setup.concurrency, async (device) => {
      await client.request(ENROLL, {
        input: { serialNumber: device.serial, registrationToken: device.token, csr: device.csr },
      });
    }).then(
      () => answer({ kind: 'done', ms: performance.now() - started }),
      (error: unknown) => answer({ kind: 'failed', message: error instanceof Error ? error.message : String(error) }),
    );
  });
  answer({ kind: 'ready' });
}

main();
