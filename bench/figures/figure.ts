/** One figure of `npm run bench`: measured by `run`, printed through `report` as `NAME: value (goal …)`. */
export type Report = (name: string, value: string, goal: string, note?: string) => void;

export interface BenchOptions {
  /** Smaller workloads, for a quick look (the ratios are noisier). */
  readonly quick: boolean;
}

export interface Figure {
  /** What `--only` selects. */
  readonly name: string;
  run(report: Report, options: BenchOptions): Promise<void>;
}
