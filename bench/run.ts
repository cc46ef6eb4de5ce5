/**
 * `npm run bench`: figures for the enrollment path on this machine. Prints, never asserts.
 *
 *  1. CSR checks alone (parse, verify, key and subject rules): the CPU floor of every request.
 *  2. Enrollment through the core with real parts (dynalite in memory, the local CA in a temp dir):
 *     register N devices in batches of 100, then enroll them with C concurrent requests.
 *  3. The same through the local HTTPS twin (API-key auth, GraphQL parse/validate, JSON), end to end.
 *  4. Enumeration: median latency of a wrong token for an unknown serial against one for a registered serial
 *     (both answer InvalidRegistrationToken); the ratio should be near 1 (goal 0.8 to 1.25).
 *
 * Options (env): BENCH_DEVICES (default 300), BENCH_CONCURRENCY (default 8).
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createGraphqlClient } from '../client/graphql-client.ts';
import { registerDevices } from '../resolvers/core/register-devices.ts';
import { inspectCsr } from '../resolvers/core/csr.ts';
import { requestCertificate } from '../resolvers/core/request-certificate.ts';
import { startLocalStack } from '../local/stack.ts';
import { readFile } from 'node:fs/promises';
import { createDeviceCsr } from '../client/device-csr.ts';
import { generateDeviceKey } from '../client/device-key.ts';
import { openLocalCore } from '../local/local-core.ts';
import { JsonLinesTelemetry } from '../resolvers/adapters/telemetry/json-lines-telemetry.ts';
import { DEFAULT_SETTINGS } from '../resolvers/core/context.ts';

// The SDK's Node 22 notice would interleave with the figures (see README, Requirements).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function report(name: string, count: number, elapsedMs: number, latencies?: number[]): void {
  const rate = (count / elapsedMs) * 1000;
  let line = `${name.padEnd(44)} ${String(count).padStart(6)} ops  ${rate.toFixed(0).padStart(6)} ops/s`;
  if (latencies && latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b);
    line += `  p50 ${percentile(sorted, 50).toFixed(1)} ms  p95 ${percentile(sorted, 95).toFixed(1)} ms  p99 ${percentile(sorted, 99).toFixed(1)} ms`;
  }
  console.log(line);
}

function memory(label: string): void {
  const usage = process.memoryUsage();
  console.log(
    `${label.padEnd(44)} rss ${(usage.rss / 2 ** 20).toFixed(0)} MiB  heap used ${(usage.heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
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

async function benchCsrChecks(): Promise<void> {
  const csr = { csrPem: await newCsr('BENCH-CSR') };
  const rounds = 2000;
  for (let i = 0; i < 100; i += 1) await inspectCsr(csr.csrPem, 'BENCH-CSR');
  const started = performance.now();
  for (let i = 0; i < rounds; i += 1) await inspectCsr(csr.csrPem, 'BENCH-CSR');
  report('CSR checks (EC P-256), one at a time', rounds, performance.now() - started);
}

async function benchCore(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-core-'));
  const harness = await openLocalCore({
    dataDir,
    settings: DEFAULT_SETTINGS,
    telemetry: new JsonLinesTelemetry(() => undefined),
  });
  try {
    const serials = Array.from({ length: DEVICES }, (_, i) => `BENCH-${String(i).padStart(6, '0')}`);
    let started = performance.now();
    const tokens = new Map<string, string>();
    for (let i = 0; i < serials.length; i += 100) {
      const batch = serials.slice(i, i + 100).map((serialNumber) => ({ serialNumber }));
      for (const registration of await registerDevices(harness.ctx, batch, ADMIN)) {
        tokens.set(registration.device.serialNumber, registration.registrationToken);
      }
    }
    report('register (core + dynalite, batches of 100)', DEVICES, performance.now() - started);

    const csrs = new Map<string, string>();
    for (const serial of serials) csrs.set(serial, await newCsr(serial));
    const latencies: number[] = [];
    started = performance.now();
    await runPool(serials, CONCURRENCY, async (serial) => {
      const begun = performance.now();
      await requestCertificate(harness.ctx, {
        serialNumber: serial,
        registrationToken: tokens.get(serial),
        csr: csrs.get(serial),
      });
      latencies.push(performance.now() - begun);
    });
    report(`enroll (core + dynalite + local CA, c=${CONCURRENCY})`, DEVICES, performance.now() - started, latencies);
    memory('after core enrollment');
  } finally {
    await harness.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Wrong tokens, one at a time, alternating unknown and registered serials (each registered one probed twice). */
async function benchEnumeration(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-enum-'));
  const harness = await openLocalCore({
    dataDir,
    settings: DEFAULT_SETTINGS,
    telemetry: new JsonLinesTelemetry(() => undefined),
  });
  try {
    const probes = Math.min(DEVICES, 200);
    const known = Array.from({ length: probes }, (_, i) => `ENUM-${String(i).padStart(6, '0')}`);
    for (let i = 0; i < known.length; i += 100) {
      await registerDevices(
        harness.ctx,
        known.slice(i, i + 100).map((serialNumber) => ({ serialNumber })),
        ADMIN,
      );
    }
    const wrongToken = 'A'.repeat(43);
    // The CSR must name the serial, or the request is refused before the device is even read.
    const key = await generateDeviceKey('ec-p256');
    const probe = async (serialNumber: string): Promise<number> => {
      const csr = await createDeviceCsr(serialNumber, key);
      const begun = performance.now();
      await requestCertificate(harness.ctx, { serialNumber, registrationToken: wrongToken, csr }).catch(
        () => undefined,
      );
      return performance.now() - begun;
    };
    const unknownLatencies: number[] = [];
    const knownLatencies: number[] = [];
    for (let round = 0; round < 2; round += 1) {
      for (const [i, serial] of known.entries()) {
        unknownLatencies.push(await probe(`UNKNOWN-${round}-${i}`));
        knownLatencies.push(await probe(serial));
      }
    }
    const median = (values: number[]) =>
      percentile(
        [...values].sort((a, b) => a - b),
        50,
      );
    report('wrong token, unknown serial (c=1)', unknownLatencies.length, sum(unknownLatencies), unknownLatencies);
    report('wrong token, registered serial (c=1)', knownLatencies.length, sum(knownLatencies), knownLatencies);
    console.log(
      `${'enumeration: median unknown / registered'.padEnd(44)} ${(median(unknownLatencies) / median(knownLatencies)).toFixed(2)} (goal 0.8 to 1.25)`,
    );
  } finally {
    await harness.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** A CSR made as a device makes it: its own EC P-256 key, CN = serial. */
async function newCsr(serialNumber: string): Promise<string> {
  return createDeviceCsr(serialNumber, await generateDeviceKey('ec-p256'));
}

const ADMIN = { kind: 'admin', arn: 'arn:aws:iam::000000000000:user/bench-admin' } as const;

async function benchHttps(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-'));
  const stack = await startLocalStack({ dataDir, port: 0, log: () => undefined });
  try {
    const ca = await readFile(stack.config.tlsCaFile, 'utf8');
    const admin = createGraphqlClient({
      url: stack.config.graphqlUrl,
      ca,
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
      ca,
      auth: { kind: 'apiKey', apiKey: stack.config.apiKey },
    });
    const serials = Array.from({ length: DEVICES }, (_, i) => `HTTPS-${String(i).padStart(6, '0')}`);
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
    const csrs = new Map<string, string>();
    for (const serial of serials) csrs.set(serial, await newCsr(serial));
    const latencies: number[] = [];
    const started = performance.now();
    await runPool(serials, CONCURRENCY, async (serial) => {
      const begun = performance.now();
      await device.request(
        'mutation($input: RequestCertificateInput!) { requestCertificate(input: $input) { certificateId } }',
        { input: { serialNumber: serial, registrationToken: tokens.get(serial), csr: csrs.get(serial) } },
      );
      latencies.push(performance.now() - begun);
    });
    report(`enroll over HTTPS (local twin, c=${CONCURRENCY})`, DEVICES, performance.now() - started, latencies);
    memory('after HTTPS enrollment');
  } finally {
    await stack.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

console.log(`cvm benchmark: ${DEVICES} devices, concurrency ${CONCURRENCY}, node ${process.version}`);
memory('at start');
await benchCsrChecks();
await benchCore();
await benchHttps();
await benchEnumeration();
