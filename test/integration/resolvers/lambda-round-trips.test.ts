/**
 * The five round trips through the Lambda composition root itself, cold (a new container: its IoT endpoint fetch
 * still in flight) and warm, with the real AWS adapters: DynamoDB on dynalite, AWS IoT simulated inside the SDK
 * client. Every call is delayed by L so that calls sent together overlap; what is asserted is the longest chain
 * of calls each sent after the previous one answered (a count of rounds, not a time).
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsIotSimulation } from '../../../bench/aws-iot-simulation.ts';
import { CallLog, dataOf, registerThrough, startCloudComposition } from '../../../bench/cloud-composition.ts';
import type { CloudComposition } from '../../../bench/cloud-composition.ts';
import { makeCsr } from '../../support/csr.ts';

const LATENCY_MS = 100;

let composition: CloudComposition;
const calls = new CallLog();

beforeAll(async () => {
  const iot = new AwsIotSimulation({ latencyMs: LATENCY_MS, onCall: (start, end) => calls.calls.push({ start, end }) });
  composition = await startCloudComposition(iot, { dynamoLatencyMs: LATENCY_MS, calls });
});
afterAll(async () => {
  await composition.close();
});

describe('requestCertificate through the Lambda handler', () => {
  it('takes at most five sequential round trips, cold and warm', async () => {
    const serials = ['LRT-COLD', 'LRT-WARM'];
    const tokens = await registerThrough(composition.newHandler(), serials);
    const csrs = await Promise.all(serials.map(async (serial) => (await makeCsr({ commonName: serial })).csrPem));
    // A new container: nothing cached, the endpoint fetch it starts overlaps the first request.
    calls.clear();
    const handler = composition.newHandler();
    const chains: number[] = [];
    for (const [i, serial] of serials.entries()) {
      if (i > 0) calls.clear();
      const grant = dataOf<{ certificateId: string; iotEndpoint: string | null }>(
        await handler({
          parentTypeName: 'Mutation',
          fieldName: 'requestCertificate',
          arguments: { input: { serialNumber: serial, registrationToken: tokens.get(serial), csr: csrs[i] } },
          identity: null,
        }),
      );
      expect(grant.iotEndpoint).toEqual(expect.any(String));
      chains.push(calls.criticalPath());
    }
    expect({ cold: chains[0], warm: chains[1] }).toEqual({ cold: 5, warm: 5 });
  });
});
