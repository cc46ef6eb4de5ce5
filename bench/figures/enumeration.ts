/**
 * Enumeration: a wrong token for an unknown serial and one for a registered serial get the same answer
 * (InvalidRegistrationToken) and should take the same time, so latency does not tell which serials exist.
 * Probes alternate, one at a time, through the core wired as the local stack runs it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDeviceCsr } from '../../client/device-csr.ts';
import { generateDeviceKey } from '../../client/device-key.ts';
import { openLocalCore } from '../../local/local-core.ts';
import { JsonLinesTelemetry } from '../../resolvers/adapters/telemetry/json-lines-telemetry.ts';
import { DEFAULT_SETTINGS } from '../../resolvers/core/context.ts';
import { registerDevices } from '../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../resolvers/core/request-certificate.ts';
import type { Figure } from './figure.ts';

const ADMIN = { kind: 'admin', arn: 'arn:aws:iam::000000000000:user/bench-admin' } as const;

export const enumeration: Figure = {
  name: 'enumeration',
  async run(report, options) {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-enum-'));
    const core = await openLocalCore({
      dataDir,
      settings: DEFAULT_SETTINGS,
      telemetry: new JsonLinesTelemetry(() => undefined),
    });
    try {
      const probes = options.quick ? 50 : 200;
      const known = Array.from({ length: probes }, (_, i) => `ENUM-${String(i).padStart(6, '0')}`);
      for (let i = 0; i < known.length; i += 100) {
        const batch = known.slice(i, i + 100).map((serialNumber) => ({ serialNumber }));
        await registerDevices(core.ctx, batch, ADMIN);
      }
      const wrongToken = 'A'.repeat(43);
      // The CSR must name the probed serial, or the request is refused before the device is even read.
      const key = await generateDeviceKey('ec-p256');
      const probe = async (serialNumber: string): Promise<number> => {
        const csr = await createDeviceCsr(serialNumber, key);
        const begun = performance.now();
        await requestCertificate(core.ctx, { serialNumber, registrationToken: wrongToken, csr }).catch(() => undefined);
        return performance.now() - begun;
      };
      const unknown: number[] = [];
      const registered: number[] = [];
      for (let round = 0; round < 2; round += 1) {
        for (const [i, serial] of known.entries()) {
          unknown.push(await probe(`UNKNOWN-${round}-${i}`));
          registered.push(await probe(serial));
        }
      }
      const ratio = median(unknown) / median(registered);
      report(
        'enumeration, median latency of a wrong token: unknown serial ÷ registered serial',
        ratio.toFixed(2),
        '0.8 to 1.25',
        `${median(unknown).toFixed(1)} ms vs ${median(registered).toFixed(1)} ms over ${unknown.length} probes each`,
      );
    } finally {
      await core.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
