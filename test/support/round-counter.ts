/**
 * Counts sequential round trips without measuring time: each call through a wrapped port is given the round
 * 1 + the highest round of the calls that had completed when it started. Calls made in parallel share a round;
 * a call that waits for another's answer comes a round later. The highest round is the number of sequential
 * round trips on the critical path.
 */
export class RoundCounter {
  readonly calls: { readonly name: string; readonly round: number }[] = [];
  private completedRound = 0;
  private epoch = 0;

  /** Forget what was counted: the next call is in round 1, and calls still in flight no longer count. */
  reset(): void {
    this.calls.length = 0;
    this.completedRound = 0;
    this.epoch += 1;
  }

  get rounds(): number {
    return Math.max(0, ...this.calls.map((call) => call.round));
  }

  /** The round of each named call (the first call of that name). */
  roundOf(name: string): number | undefined {
    return this.calls.find((call) => call.name === name)?.round;
  }

  /** `target` with every method call counted as `<port>.<method>`. */
  wrap<T extends object>(target: T, port: string): T {
    return new Proxy(target, {
      get: (object, property, receiver) => {
        const value: unknown = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): Promise<unknown> => {
          const round = this.completedRound + 1;
          const epoch = this.epoch;
          this.calls.push({ name: `${port}.${String(property)}`, round });
          const settled = () => {
            if (this.epoch === epoch) this.completedRound = Math.max(this.completedRound, round);
          };
          return Promise.resolve(Reflect.apply(value, object, args) as unknown).finally(settled);
        };
      },
    });
  }
}
