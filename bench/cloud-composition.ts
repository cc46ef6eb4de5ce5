/**
 * The Lambda composition root (resolvers/lambda.ts) as AWS runs it, with its two AWS services replaced for the
 * benchmark: dynalite for DynamoDB (in memory) and the AWS IoT simulation for AWS IoT. Both clients can delay
 * every call by a fixed latency, so that sequential round trips can be counted.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MiddlewareStack } from '@smithy/types';
import { LAMBDA_ENV } from '../contract/lambda-environment.ts';
import type { ResolverEnvelope, ResolverEvent } from '../contract/lambda-envelope.ts';
import { ensureTable, startDynalite } from '../local/dynalite.ts';
import { createLambdaHandler } from '../resolvers/lambda.ts';
import type { AwsIotSimulation } from './aws-iot-simulation.ts';

export const BENCH_TABLE = 'cvm-bench';
export const BENCH_ADMIN = { userArn: 'arn:aws:iam::123456789012:user/bench-admin' } as const;

export interface CloudComposition {
  /** A fresh handler, as a new Lambda container builds it (cold: nothing cached). */
  newHandler(): (event: ResolverEvent) => Promise<ResolverEnvelope>;
  close(): Promise<void>;
}

export async function startCloudComposition(
  iot: AwsIotSimulation,
  options: { dynamoLatencyMs?: number; calls?: CallLog } = {},
): Promise<CloudComposition> {
  const dynalite = await startDynalite();
  await ensureTable(dynalite.client, BENCH_TABLE);
  const latencyMs = options.dynamoLatencyMs ?? 0;
  if (latencyMs > 0) {
    delayEveryCall(dynalite.client.middlewareStack as MiddlewareStack<object, object>, latencyMs, options.calls);
  }
  const env = { [LAMBDA_ENV.tableName]: BENCH_TABLE, [LAMBDA_ENV.devicePolicyName]: 'bench-device' };
  return {
    newHandler: () =>
      createLambdaHandler(env, {
        dynamodb: dynalite.client,
        iot: iot.client(),
        iotCreateCertificate: iot.client({ maxAttempts: 1 }),
      }),
    close: () => dynalite.close(),
  };
}

/** When each call started and when its answer came back (performance.now()). */
export class CallLog {
  readonly calls: { start: number; end: number }[] = [];

  clear(): void {
    this.calls.length = 0;
  }

  /**
   * The longest chain of calls each sent after the previous one's answer arrived: the sequential round trips on
   * the critical path, whatever the CPU time between them (which end-to-end ÷ latency counts as well).
   */
  criticalPath(): number {
    const sorted = [...this.calls].sort((a, b) => a.start - b.start);
    const depth: number[] = [];
    sorted.forEach((call, i) => {
      let before = 0;
      for (let j = 0; j < i; j += 1) {
        if ((sorted[j]?.end ?? Infinity) <= call.start) before = Math.max(before, depth[j] ?? 0);
      }
      depth.push(before + 1);
    });
    return Math.max(0, ...depth);
  }
}

/**
 * Every call through this client takes `ms`, the service's own work included (as a remote call's latency does:
 * here dynalite's work runs in this process, while the network time passes); `log` records each call.
 */
export function delayEveryCall(stack: MiddlewareStack<object, object>, ms: number, log?: CallLog): void {
  stack.add(
    (next) => async (args) => {
      const start = performance.now();
      try {
        const [answer] = await Promise.all([next(args), sleep(ms)]);
        return answer;
      } finally {
        log?.calls.push({ start, end: performance.now() });
      }
    },
    { step: 'deserialize', priority: 'high', name: 'benchLatency' },
  );
}

/** Register serials through the handler as an admin would, 100 per call; returns each serial's token. */
export async function registerThrough(
  handler: (event: ResolverEvent) => Promise<ResolverEnvelope>,
  serials: readonly string[],
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (let start = 0; start < serials.length; start += 100) {
    const input = serials.slice(start, start + 100).map((serialNumber) => ({ serialNumber }));
    const registrations = dataOf<{ registrationToken: string; device: { serialNumber: string } }[]>(
      await handler({
        parentTypeName: 'Mutation',
        fieldName: 'registerDevices',
        arguments: { input },
        identity: BENCH_ADMIN,
      }),
    );
    for (const registration of registrations)
      tokens.set(registration.device.serialNumber, registration.registrationToken);
  }
  return tokens;
}

export function dataOf<T>(envelope: ResolverEnvelope): T {
  if ('error' in envelope) throw new Error(`${envelope.error.errorType}: ${envelope.error.message}`);
  return envelope.data as T;
}
