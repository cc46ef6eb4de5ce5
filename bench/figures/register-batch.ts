/**
 * registerDevices with one batch of 100, every DynamoDB call delayed by L: the sequential round trips, counted as
 * the longest chain of calls each sent after the previous one's answer (end-to-end ÷ L also counts the CPU time of
 * dynalite handling 100 writes one after another, which in AWS is spread over DynamoDB's fleet).
 */
import { performance } from 'node:perf_hooks';
import { AwsIotSimulation } from '../aws-iot-simulation.ts';
import { CallLog, registerThrough, startCloudComposition } from '../cloud-composition.ts';
import type { Figure } from './figure.ts';

const LATENCY_MS = 200;

export const registerBatch: Figure = {
  name: 'register-batch',
  async run(report) {
    const calls = new CallLog();
    const composition = await startCloudComposition(new AwsIotSimulation(), { dynamoLatencyMs: LATENCY_MS, calls });
    try {
      const handler = composition.newHandler();
      await registerThrough(handler, ['WARM-UP']);
      const serials = Array.from({ length: 100 }, (_, i) => `BATCH-${String(i).padStart(3, '0')}`);
      calls.clear();
      const started = performance.now();
      await registerThrough(handler, serials);
      const elapsedRounds = (performance.now() - started) / LATENCY_MS;
      report(
        'registerDevices, batch of 100',
        `${calls.criticalPath()} round trips`,
        '≤ 10',
        `${calls.calls.length} calls; end-to-end ÷ L = ${elapsedRounds.toFixed(1)}, L = ${LATENCY_MS} ms`,
      );
    } finally {
      await composition.close();
    }
  },
};
