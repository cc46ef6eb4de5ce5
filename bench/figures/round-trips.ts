/**
 * Sequential round trips of one enrollment: every DynamoDB and AWS IoT call takes L (the service's own work
 * included, as a remote call's latency does), so end-to-end ÷ L counts the calls on the critical path (calls made in
 * parallel count once) plus the resolver's own CPU time as a fraction of L. L is long enough (a second) that the round
 * trips dominate; the CPU time left over is printed beside the figure, with the longest
 * chain of calls each sent after the previous one answered: the round trips alone. Cold: the first request of a
 * new container; warm: the next one.
 */
import { performance } from 'node:perf_hooks';
import { createDeviceCsr } from '../../client/device-csr.ts';
import { generateDeviceKey } from '../../client/device-key.ts';
import { AwsIotSimulation } from '../aws-iot-simulation.ts';
import { CallLog, dataOf, registerThrough, startCloudComposition } from '../cloud-composition.ts';
import type { Figure } from './figure.ts';

const LATENCY_MS = 1000;

export const roundTrips: Figure = {
  name: 'round-trips',
  async run(report) {
    const calls = new CallLog();
    const iot = new AwsIotSimulation({
      latencyMs: LATENCY_MS,
      onCall: (start, end) => calls.calls.push({ start, end }),
    });
    const composition = await startCloudComposition(iot, { dynamoLatencyMs: LATENCY_MS, calls });
    try {
      const admin = composition.newHandler();
      const serials = ['RTT-COLD', 'RTT-WARM'];
      const tokens = await registerThrough(admin, serials);
      const handler = composition.newHandler();
      const rounds: number[] = [];
      const chains: number[] = [];
      const overheadsMs: number[] = [];
      for (const serial of serials) {
        const csr = await createDeviceCsr(serial, await generateDeviceKey('ec-p256'));
        calls.clear();
        const started = performance.now();
        dataOf(
          await handler({
            parentTypeName: 'Mutation',
            fieldName: 'requestCertificate',
            arguments: { input: { serialNumber: serial, registrationToken: tokens.get(serial), csr } },
            identity: null,
          }),
        );
        const elapsed = performance.now() - started;
        rounds.push(elapsed / LATENCY_MS);
        // Calls still in flight from before the request (the cold container's endpoint fetch) end during it.
        chains.push(calls.criticalPath());
        overheadsMs.push(elapsed - calls.criticalPath() * LATENCY_MS);
      }
      const chain = (i: number) =>
        `${chains[i] ?? 0} sequential calls and ${Math.round(overheadsMs[i] ?? 0)} ms of the resolver's own work`;
      report(
        'round trips, warm',
        (rounds[1] ?? 0).toFixed(1),
        '≤ 5',
        `end-to-end ÷ L, L = ${LATENCY_MS} ms; ${chain(1)}`,
      );
      report('round trips, cold', (rounds[0] ?? 0).toFixed(1), '≤ 5', `first request of a new container; ${chain(0)}`);
    } finally {
      await composition.close();
    }
  },
};
