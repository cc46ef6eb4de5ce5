/**
 * A factory burst: N devices enroll at once, each with the project's own device client (its key, its CSR, its
 * retries) over HTTPS, against the Lambda composition root whose AWS IoT is the simulation throttled to a quota
 * of R calls per second per API. The floor is N ÷ R seconds (each device needs one call of every API); the figure
 * is elapsed ÷ that floor, and the certificates AWS IoT created per device enrolled.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { enrollDevice } from '../../client/device-enroll.ts';
import { createGraphqlClient } from '../../client/graphql-client.ts';
import { APPSYNC_REQUEST_LIMITS } from '../../contract/request-limits.ts';
import { SCHEMA_FILE } from '../../contract/schema-file.ts';
import { startAppSyncTwin } from '../../local/appsync-twin/server.ts';
import { openLocalTls } from '../../local/tls/local-tls.ts';
import { readFile } from 'node:fs/promises';
import { AwsIotSimulation } from '../aws-iot-simulation.ts';
import { registerThrough, startCloudComposition } from '../cloud-composition.ts';
import { servedAsDeployed } from '../deployed-admission.ts';
import type { Figure } from './figure.ts';

/** AWS IoT's default quota for CreateCertificateFromCsr and its neighbours in many regions, per second. */
const CALLS_PER_SECOND = 15;
const API_KEY = 'bench-device-api-key';

export const burst: Figure = {
  name: 'burst',
  async run(report, options) {
    const devices = Number(process.env.BENCH_BURST_DEVICES ?? (options.quick ? 150 : 1000));
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-burst-'));
    const iot = new AwsIotSimulation({ callsPerSecond: CALLS_PER_SECOND });
    const composition = await startCloudComposition(iot);
    try {
      const handler = composition.newHandler();
      const serials = Array.from({ length: devices }, (_, i) => `BURST-${String(i).padStart(5, '0')}`);
      const tokens = await registerThrough(handler, serials);
      const tls = await openLocalTls(path.join(dir, 'tls'));
      const twin = await startAppSyncTwin({
        schemaSdl: await readFile(SCHEMA_FILE, 'utf8'),
        tls: { keyPem: tls.server.keyPem, certPem: tls.server.certPem },
        port: 0,
        region: 'us-east-1',
        apiKeys: [API_KEY],
        adminCredentials: [],
        invoke: servedAsDeployed(handler, CALLS_PER_SECOND),
        limits: APPSYNC_REQUEST_LIMITS,
      });
      try {
        const client = createGraphqlClient({
          url: twin.url,
          ca: tls.ca.certPem,
          auth: { kind: 'apiKey', apiKey: API_KEY },
        });
        let failed = 0;
        const started = performance.now();
        await Promise.all(
          serials.map((serialNumber) =>
            enrollDevice({
              serialNumber,
              registrationToken: tokens.get(serialNumber) ?? '',
              client,
              outDir: path.join(dir, 'devices', serialNumber),
            }).catch(() => {
              failed += 1;
            }),
          ),
        );
        const elapsedS = (performance.now() - started) / 1000;
        const floorS = devices / CALLS_PER_SECOND;
        const enrolled = devices - failed;
        report(
          `burst of ${devices} devices, elapsed ÷ quota-bound time`,
          `${(elapsedS / floorS).toFixed(2)}×`,
          '≤ 1.2×',
          `${elapsedS.toFixed(0)} s vs ${floorS.toFixed(0)} s at ${CALLS_PER_SECOND} calls/s per API; ${enrolled} enrolled, ${failed} gave up`,
        );
        report(
          'burst, certificates created per device',
          (iot.certificatesCreated / Math.max(1, enrolled)).toFixed(2),
          '≤ 1.05',
          `${iot.certificatesCreated} created, ${iot.activeCertificates} active; throttled calls: ${[...iot.throttled].map(([api, n]) => `${api} ${n}`).join(', ') || 'none'}`,
        );
      } finally {
        await twin.close();
      }
    } finally {
      await composition.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
