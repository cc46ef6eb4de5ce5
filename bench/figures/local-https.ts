/**
 * The local stack's enrollment rate over HTTPS (the AppSync twin, dynalite on disk, the local CA) against the
 * rate of the crypto alone in this process (CSR checks and certificate signing, the same libraries), both with
 * the same concurrency in the same run. The ratio is how much of the local stack's time is the work itself.
 *
 * The two alternate in rounds (crypto on a slice of the devices, then those devices over HTTPS), so that a change of
 * the machine's load during the run weighs on both rates alike instead of on whichever ran at the time.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDeviceCsr } from '../../client/device-csr.ts';
import { generateDeviceKey } from '../../client/device-key.ts';
import { createGraphqlClient } from '../../client/graphql-client.ts';
import { startLocalStack } from '../../local/stack.ts';
import { issueDeviceCertificate } from '../../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { createCa } from '../../resolvers/adapters/authority/local-ca/local-ca.ts';
import { inspectCsr } from '../../resolvers/core/csr.ts';
import type { Figure } from './figure.ts';

const CONCURRENCY = 8;
const ROUNDS = 3;

export const localHttps: Figure = {
  name: 'https',
  async run(report, options) {
    const devices = Number(process.env.BENCH_HTTPS_DEVICES ?? (options.quick ? 100 : 300));
    const csrs = new Map<string, string>();
    for (let i = 0; i < devices; i += 1) {
      const serial = `HTTPS-${String(i).padStart(6, '0')}`;
      csrs.set(serial, await createDeviceCsr(serial, await generateDeviceKey('ec-p256')));
    }
    const serials = [...csrs.keys()];

    const { ca: cryptoCa } = await createCa({ commonName: 'bench crypto' });
    const cryptoOnly = async (serial: string): Promise<void> => {
      const csr = csrs.get(serial) ?? '';
      await inspectCsr(csr, serial);
      await issueDeviceCertificate(cryptoCa, csr);
    };

    const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-https-'));
    const stack = await startLocalStack({ dataDir, port: 0, log: () => undefined });
    try {
      const tlsCa = await readFile(stack.config.tlsCaFile, 'utf8');
      const admin = createGraphqlClient({
        url: stack.config.graphqlUrl,
        ca: tlsCa,
        auth: {
          kind: 'iam',
          region: stack.config.region,
          credentials: {
            accessKeyId: stack.config.adminAccessKeyId,
            secretAccessKey: stack.config.adminSecretAccessKey,
          },
        },
      });
      const device = createGraphqlClient({
        url: stack.config.graphqlUrl,
        ca: tlsCa,
        auth: { kind: 'apiKey', apiKey: stack.config.apiKey },
      });
      const tokens = new Map<string, string>();
      for (let i = 0; i < serials.length; i += 100) {
        const input = serials.slice(i, i + 100).map((serialNumber) => ({ serialNumber }));
        const data = await admin.request<{
          registerDevices: { registrationToken: string; device: { serialNumber: string } }[];
        }>(
          'mutation($input: [RegisterDeviceInput!]!) { registerDevices(input: $input) { registrationToken device { serialNumber } } }',
          { input },
        );
        for (const registration of data.registerDevices)
          tokens.set(registration.device.serialNumber, registration.registrationToken);
      }
      const enroll = async (serial: string): Promise<void> => {
        await device.request(
          'mutation($input: RequestCertificateInput!) { requestCertificate(input: $input) { certificateId } }',
          { input: { serialNumber: serial, registrationToken: tokens.get(serial), csr: csrs.get(serial) } },
        );
      };
      let cryptoMs = 0;
      let httpsMs = 0;
      const roundSize = Math.ceil(serials.length / ROUNDS);
      for (let start = 0; start < serials.length; start += roundSize) {
        const round = serials.slice(start, start + roundSize);
        cryptoMs += await timed(() => runPool(round, CONCURRENCY, cryptoOnly));
        httpsMs += await timed(() => runPool(round, CONCURRENCY, enroll));
      }
      const cryptoRate = devices / (cryptoMs / 1000);
      const httpsRate = devices / (httpsMs / 1000);
      report(
        'local HTTPS enrollment rate ÷ crypto-only rate',
        (httpsRate / cryptoRate).toFixed(2),
        '≥ 0.5',
        `${httpsRate.toFixed(0)}/s vs ${cryptoRate.toFixed(0)}/s, ${devices} devices, ${CONCURRENCY} at a time, ` +
          `in ${ROUNDS} alternating rounds`,
      );
    } finally {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
};

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next] as T;
        next += 1;
        await work(item);
      }
    }),
  );
}
