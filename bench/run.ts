/**
 * `npm run bench`: the throughput figures of cvm on this machine, one line each as `NAME: value (goal …)`,
 * measured in one run. Prints, never asserts.
 *
 *   npm run bench                      every figure (about five minutes: the burst alone takes over one)
 *   npm run bench -- --only burst      one figure (repeat --only, or separate names with commas)
 *   npm run bench -- --quick           smaller workloads, noisier ratios
 *
 * Figures: burst, round-trips, register-batch, import, bundle, https, enumeration. Sizes can be set with BENCH_BURST_DEVICES,
 * BENCH_IMPORT_DEVICES, BENCH_HTTPS_DEVICES.
 */
import 'reflect-metadata';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { burst } from './figures/burst.ts';
import { enumeration } from './figures/enumeration.ts';
import type { Figure } from './figures/figure.ts';
import { adminImport } from './figures/import.ts';
import { lambdaBundle } from './figures/lambda-bundle.ts';
import { localHttps } from './figures/local-https.ts';
import { registerBatch } from './figures/register-batch.ts';
import { roundTrips } from './figures/round-trips.ts';

// The SDK's Node 22 notice would interleave with the figures (see README, Requirements).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The Lambda composition logs and emits metrics to stdout as in Lambda; here only the figures should show.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const FIGURES: readonly Figure[] = [
  burst,
  roundTrips,
  registerBatch,
  adminImport,
  lambdaBundle,
  localHttps,
  enumeration,
];

const { values } = parseArgs({
  options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean', default: false } },
});
const wanted = new Set((values.only ?? []).flatMap((names) => names.split(',')).filter(Boolean));
const unknown = [...wanted].filter((name) => !FIGURES.some((figure) => figure.name === name));
if (unknown.length > 0) {
  console.error(`Unknown figure(s): ${unknown.join(', ')}. Known: ${FIGURES.map((figure) => figure.name).join(', ')}.`);
  process.exit(2);
}

const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
console.log(`cvm benchmark: node ${process.version}, load average ${load()}${values.quick ? ', quick' : ''}`);
for (const figure of FIGURES) {
  if (wanted.size > 0 && !wanted.has(figure.name)) continue;
  await figure.run(
    (name, value, goal, note) =>
      console.log(`${name}: ${value} (goal ${goal})${note === undefined ? '' : `  [${note}]`}`),
    { quick: values.quick },
  );
}
console.log(`load average at the end: ${load()}`);
