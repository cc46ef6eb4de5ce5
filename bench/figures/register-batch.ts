/** registerDevices with one batch of 100, every DynamoDB call delayed by L: end-to-end ÷ L sequential round trips. */
import { performance } from 'node:perf_hooks';
import { AwsIotSimulation } from '../aws-iot-simulation.ts';
import { registerThrough, startCloudComposition } from '../cloud-composition.ts';
import type { Figure } from './figure.ts';

const LATENCY_MS = 50;

export const registerBatch: Figure = {
  name: 'register-batch',
  async run(report) {
    const composition = await startCloudComposition(new AwsIotSimulation(), { dynamoLatencyMs: LATENCY_MS });
    try {
      const handler = composition.newHandler();
      await registerThrough(handler, ['WARM-UP']);
      const serials = Array.from({ length: 100 }, (_, i) => `BATCH-${String(i).padStart(3, '0')}`);
      const started = performance.now();
      await registerThrough(handler, serials);
      const rounds = (performance.now() - started) / LATENCY_MS;
      report('registerDevices, batch of 100', `${rounds.toFixed(1)} round trips`, '≤ 10', `L = ${LATENCY_MS} ms`);
    } finally {
      await composition.close();
    }
  },
};
