/**
 * The local stack's enrollment rate over HTTPS (the AppSync twin, dynalite on disk, the local CA) against the
 * rate of the crypto alone in this process (CSR checks and certificate signing, the same libraries), both with
 * the same concurrency in the same run. The ratio is how much of the local stack's time is the work itself.
 *
 * The two alternate in rounds (crypto on a slice of the devices, then those devices over HTTPS), so that a change of
 * the machine's load during the run weighs on both rates alike instead of on whichever ran at the time.
 *
 * The devices run in a process of their own (https-devices.ts), as devices do: in this process, their TLS, HTTP and
 * JSON work shared the stack's event loop and was counted as the stack's.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
import type { DeviceToEnroll, DevicesAnswer, DevicesMessage, DevicesSetup } from './https-devices.ts';
import { runPool } from './run-pool.ts';

const CONCURRENCY = 8;
const ROUNDS = 3;

export const localHttps: Figure = {
  name: 'https',
  async run(report, options) {
    const deviceCount = Number(process.env.BENCH_HTTPS_DEVICES ?? (options.quick ? 100 : 300));
    const csrs = new Map<string, string>();
    for (let i = 0; i < deviceCount; i += 1) {
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
      const devicesToEnroll = new Map<string, DeviceToEnroll>();
      for (let i = 0; i < serials.length; i += 100) {
        const input = serials.slice(i, i + 100).map((serialNumber) => ({ serialNumber }));
        const data = await admin.request<{
          registerDevices: { registrationToken: string; device: { serialNumber: string } }[];
        }>(
          'mutation($input: [RegisterDeviceInput!]!) { registerDevices(input: $input) { registrationToken device { serialNumber } } }',
          { input },
        );
        for (const { device, registrationToken } of data.registerDevices) {
          const serial = device.serialNumber;
          devicesToEnroll.set(serial, { serial, token: registrationToken, csr: csrs.get(serial) ?? '' });
        }
      }
      const devices = await startDevices({
        graphqlUrl: stack.config.graphqlUrl,
        tlsCa,
        apiKey: stack.config.apiKey,
        concurrency: CONCURRENCY,
      });
      let cryptoMs = 0;
      let httpsMs = 0;
      const cryptoLoop = new LoopUse();
      const httpsLoop = new LoopUse();
      try {
        const roundSize = Math.ceil(serials.length / ROUNDS);
        for (let start = 0; start < serials.length; start += roundSize) {
          const round = serials.slice(start, start + roundSize);
          cryptoMs += await cryptoLoop.during(() => timed(() => runPool(round, CONCURRENCY, cryptoOnly)));
          httpsMs += await httpsLoop.during(() =>
            devices.enroll(round.map((serial) => devicesToEnroll.get(serial) as DeviceToEnroll)),
          );
        }
      } finally {
        await devices.stop();
      }
      const cryptoRate = serials.length / (cryptoMs / 1000);
      const httpsRate = serials.length / (httpsMs / 1000);
      report(
        'local HTTPS enrollment rate ÷ crypto-only rate',
        (httpsRate / cryptoRate).toFixed(2),
        '≥ 0.5',
        `${httpsRate.toFixed(0)}/s vs ${cryptoRate.toFixed(0)}/s, ${deviceCount} devices, ${CONCURRENCY} at a time, ` +
          `in ${ROUNDS} alternating rounds; the event loop ${httpsLoop.describe(serials.length)} ` +
          `(crypto alone: ${cryptoLoop.describe(serials.length)})`,
      );
    } finally {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
};

/**
 * How busy this process's event loop was while `during` ran its work, and its thread's CPU time: the stack runs on
 * this event loop, and the figure is bound by it (see the README's benchmark section).
 */
class LoopUse {
  private active = 0;
  private idle = 0;
  private cpuMs: number | undefined = 0;

  async during<T>(work: () => Promise<T>): Promise<T> {
    const loopBefore = performance.eventLoopUtilization();
    const cpuBefore = mainThreadCpuMs();
    try {
      return await work();
    } finally {
      const { active, idle } = performance.eventLoopUtilization(loopBefore);
      this.active += active;
      this.idle += idle;
      const cpuAfter = mainThreadCpuMs();
      this.cpuMs =
        this.cpuMs === undefined || cpuBefore === undefined || cpuAfter === undefined
          ? undefined
          : this.cpuMs + (cpuAfter - cpuBefore);
    }
  }

  /** For example `91 % busy, 7.2 ms of CPU per enrollment` (the CPU time only where /proc tells it). */
  describe(enrollments: number): string {
    const busy = `${((100 * this.active) / (this.active + this.idle)).toFixed(0)} % busy`;
    return this.cpuMs === undefined
      ? busy
      : `${busy}, ${(this.cpuMs / enrollments).toFixed(1)} ms of CPU per enrollment`;
  }
}

/** CPU time of this process's main thread so far, in ms; undefined where /proc does not tell it (not Linux). */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

interface Devices {
  /** Enrolls these devices over HTTPS in the devices' process; resolves to how long that took, in ms. */
  enroll(round: readonly DeviceToEnroll[]): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the devices' process and waits until it is loaded, so that its start does not weigh on a timed round. */
async function startDevices(setup: DevicesSetup): Promise<Devices> {
  const child: ChildProcess = fork(new URL('./https-devices.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, CVM_BENCH_DEVICES: JSON.stringify(setup) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  /** The process's next answer; rejects if it ends first. */
  const nextAnswer = () =>
    new Promise<DevicesAnswer>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`The devices' process ended (exit code ${code}).`));
      child.once('exit', onExit);
      child.once('message', (answer: DevicesAnswer) => {
        child.off('exit', onExit);
        resolve(answer);
      });
    });
  await nextAnswer();
  const send = (message: DevicesMessage) => child.send(message);
  return {
    async enroll(round) {
      const answered = nextAnswer();
      send({ kind: 'round', devices: round });
      const answer = await answered;
      if (answer.kind === 'done') return answer.ms;
      if (answer.kind === 'failed') throw new Error(`A device could not enroll: ${answer.message}`);
      throw new Error(`The devices' process answered a round with '${answer.kind}'.`);
    },
    async stop() {
      if (child.connected) send('stop');
      await exited;
    },
  };
}
