/**
 * How the fuzz properties run. `npm test` runs a small sample with a fixed seed, so a failure is the same on
 * every machine; `npm run fuzz` (CVM_FUZZ=1) runs the big budget with a fresh seed it prints, so a failure
 * found there can be replayed with CVM_FUZZ_SEED=<seed>.
 */
import { ERROR_TYPES, type ErrorType } from '../../resolvers/core/errors.ts';

export const FUZZING = process.env['CVM_FUZZ'] === '1';

const FIXED_SEED = 20_261_201;
export const FUZZ_SEED = Number(process.env['CVM_FUZZ_SEED'] ?? (FUZZING ? Date.now() % 2 ** 31 : FIXED_SEED));

/** Runs of one property: `sample` under `npm test`, `fuzz` under `npm run fuzz`. */
export function runs(sample: number, fuzz: number): number {
  return FUZZING ? fuzz : sample;
}

/** Per-test timeout: the sample fits the default; the fuzz budget gets ten minutes. */
export const FUZZ_TIMEOUT_MS = FUZZING ? 600_000 : 30_000;

/** Every errorType an answer may carry: the known list, without InternalError (a fuzzer's input is never our fault). */
export const TYPED_REFUSALS: ReadonlySet<string> = new Set<ErrorType>(
  ERROR_TYPES.filter((type) => type !== 'InternalError'),
);

/**
 * Counts inputs and the untyped answers among them, keeps the first few for the report, and prints one
 * summary line: the count of untyped answers (goal 0) and the inputs per second.
 */
export class AnswerTally {
  inputs = 0;
  readonly untyped: { readonly input: unknown; readonly answer: unknown }[] = [];
  private untypedCount = 0;
  private readonly started = performance.now();
  /** When the last answer came: the rate covers this property's run only, not the ones after it. */
  private lastAnswerAt = this.started;

  constructor(private readonly name: string) {}

  /** How many answers of each kind (`data`, an errorType, …): shows how deep the inputs reach. */
  private readonly kinds = new Map<string, number>();

  record(input: unknown, answer: unknown, typed: boolean, kind: string): void {
    this.inputs += 1;
    this.lastAnswerAt = performance.now();
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    if (typed) return;
    this.untypedCount += 1;
    if (this.untyped.length < 5) this.untyped.push({ input, answer });
  }

  get untypedAnswers(): number {
    return this.untypedCount;
  }

  summary(): string {
    const seconds = (this.lastAnswerAt - this.started) / 1000;
    const rate = Math.round(this.inputs / Math.max(seconds, 0.001));
    const kinds = [...this.kinds].map(([kind, count]) => `${kind} ${count}`).join(', ');
    return (
      `fuzz ${this.name}: ${this.inputs} inputs, ${this.untypedCount} untyped answers, ${rate} inputs/s ` +
      `(seed ${FUZZ_SEED}; ${kinds})`
    );
  }
}
