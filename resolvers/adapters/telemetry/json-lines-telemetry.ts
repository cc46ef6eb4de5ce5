/**
 * Telemetry for the local stack: one JSON line per log entry to the given sink, with the same redaction
 * as in Lambda. Metrics are kept as counters (the benchmark and `npm start`'s shutdown line read them).
 */
import { redactSecrets } from './redact-secrets.ts';
import type { MetricName, Telemetry } from '../../core/ports.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class JsonLinesTelemetry implements Telemetry {
  readonly counters = new Map<string, number>();

  constructor(
    private readonly sink: (line: string) => void,
    private readonly minimumLevel: Level = 'info',
  ) {}

  log(level: Level, message: string, fields?: Readonly<Record<string, unknown>>): void {
    if (ORDER[level] < ORDER[this.minimumLevel]) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level, message, ...redactSecrets(fields ?? {}) }));
  }

  count(metric: MetricName, dimensions: Readonly<Record<string, string>> = {}): void {
    const key = [metric, ...Object.entries(dimensions).map(([name, value]) => `${name}=${value}`)].join(' ');
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
  }
}
