/**
 * The resolver Lambda's bundle, made by synthesizing the CDK stack (so esbuild runs with exactly the construct's
 * bundling options), then its size and the time Node takes to import it over an empty start (medians).
 *
 * The stack is synthesized in a child process: the CDK and esbuild print their progress to the process's own
 * stderr, which would land among the figures. Their output is shown only when the synthesis fails.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Figure } from './figure.ts';

const STARTS = 15;

export const lambdaBundle: Figure = {
  name: 'bundle',
  async run(report, options) {
    const outdir = await mkdtemp(path.join(tmpdir(), 'cvm-bench-bundle-'));
    try {
      await synthesize(outdir);
      const bundle = await findBundle(outdir);
      const size = (await stat(bundle)).size;
      report('Lambda bundle', `${(size / 2 ** 20).toFixed(2)} MiB`, '≤ 1 MiB', path.basename(path.dirname(bundle)));
      const starts = options.quick ? 5 : STARTS;
      const { empty, withBundle } = await fastestStarts(bundle, starts);
      report(
        'Lambda init over an empty node start',
        `${(withBundle - empty).toFixed(0)} ms`,
        '≤ 150 ms',
        `${withBundle.toFixed(0)} ms ÷ ${empty.toFixed(0)} ms = ${(withBundle / empty).toFixed(1)}×, fastest of ${starts} each`,
      );
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  },
};

/** Synthesizes the stack into `outdir` in a child process; rejects with the child's output if it fails. */
async function synthesize(outdir: string): Promise<void> {
  const stackModule = new URL('../../infra/cvm-stack.ts', import.meta.url).href;
  const script = [
    `import { App } from 'aws-cdk-lib';`,
    `import { CvmStack } from ${JSON.stringify(stackModule)};`,
    `const app = new App({ outdir: ${JSON.stringify(outdir)} });`,
    `new CvmStack(app, 'CvmBench', { cvm: { rateLimit: false } });`,
    `app.synth();`,
  ].join('\n');
  try {
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      maxBuffer: 16 * 2 ** 20,
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`cdk synth of the bench stack failed:\n${stdout}${stderr}`, { cause: error });
  }
}

async function findBundle(outdir: string): Promise<string> {
  for (const entry of await readdir(outdir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith('asset.')) continue;
    const files = await readdir(path.join(outdir, entry.name));
    if (files.includes('index.mjs')) return path.join(outdir, entry.name, 'index.mjs');
  }
  throw new Error(`No bundled index.mjs in ${outdir}`);
}

/**
 * The fastest of `starts` runs of an empty `node` and of `node` importing the bundle, taken in turns so that the
 * machine's load falls on both alike; the fastest run is the one the load disturbed least.
 */
async function fastestStarts(bundle: string, starts: number): Promise<{ empty: number; withBundle: number }> {
  const importBundle = ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(bundle).href)});`];
  let empty = Number.POSITIVE_INFINITY;
  let withBundle = Number.POSITIVE_INFINITY;
  for (let i = 0; i < starts; i += 1) {
    empty = Math.min(empty, await timedStart(['--input-type=module', '-e', '']));
    withBundle = Math.min(withBundle, await timedStart(importBundle));
  }
  return { empty, withBundle };
}

async function timedStart(args: readonly string[]): Promise<number> {
  const started = performance.now();
  await promisify(execFile)(process.execPath, args, { env: { PATH: process.env.PATH ?? '' } });
  return performance.now() - started;
}
