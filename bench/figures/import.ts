/** `cvm admin import` of N serials (default 10,000) into the local stack: the command as a user runs it. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startLocalStack } from '../../local/stack.ts';
import type { Figure } from './figure.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

export const adminImport: Figure = {
  name: 'import',
  async run(report, options) {
    const serials = Number(process.env.BENCH_IMPORT_DEVICES ?? (options.quick ? 2000 : 10_000));
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-import-'));
    const stack = await startLocalStack({ dataDir: path.join(dir, 'stack'), port: 0, log: () => undefined });
    try {
      const csv = path.join(dir, 'devices.csv');
      const rows = Array.from({ length: serials }, (_, i) => `IMPORT-${String(i).padStart(6, '0')}`);
      await writeFile(csv, `serialNumber\n${rows.join('\n')}\n`);
      const started = performance.now();
      await promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          'cli/main.ts',
          'admin',
          'import',
          csv,
          '--out',
          path.join(dir, 'tokens.csv'),
          '--data-dir',
          path.join(dir, 'stack'),
        ],
        { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 },
      );
      const seconds = (performance.now() - started) / 1000;
      const goal = (30 * serials) / 10_000;
      report(`cvm admin import of ${serials} serials, local`, `${seconds.toFixed(1)} s`, `≤ ${goal} s`);
    } finally {
      await stack.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
