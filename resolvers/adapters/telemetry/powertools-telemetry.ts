/**
 * The Telemetry port on Powertools for AWS Lambda: one JSON line per log, CloudWatch metrics in the Embedded
 * Metric Format (EMF) written to stdout, where Lambda's log stream turns them into metrics without API calls.
 *
 * Use from the Lambda entry: keep one instance outside the handler and call `flush()` in a `finally` at the end
 * of every invocation (the middleware-free form of Powertools' `logMetrics`).
 */
import type { Context } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricName, Telemetry } from '../../core/ports.ts';
import { redactSecrets } from './redact-secrets.ts';
import { METRICS_NAMESPACE, METRICS_SERVICE as SERVICE_NAME } from '../../../contract/metrics.ts';

export interface PowertoolsTelemetryOptions {
  /** Lowest level written. Default: Powertools' own (POWERTOOLS_LOG_LEVEL, else INFO). */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export class PowertoolsTelemetry implements Telemetry {
  readonly #logger: Logger;
  /**
   * EMF gives every metric in a blob the same dimensions, so each distinct dimension set gets its own
   * buffer, with the dimensions as its default dimensions (they then survive Powertools' automatic flush
   * at 100 values). Dimensions are low-cardinality by nature (an error type), so the map stays small.
   */
  readonly #metricsByDimensions = new Map<string, Metrics>();

  constructor(options: PowertoolsTelemetryOptions = {}) {
    this.#logger = new Logger({
      serviceName: SERVICE_NAME,
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    });
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Readonly<Record<string, unknown>>): void {
    // Callers never pass secrets; redacting anyway means one slip does not put a token in CloudWatch Logs.
    this.#logger[level](message, redactSecrets(fields ?? {}));
  }

  count(metric: MetricName, dimensions: Readonly<Record<string, string>> = {}): void {
    this.#metricsFor(dimensions).addMetric(metric, MetricUnit.Count, 1);
  }

  /** Write the counted metrics as EMF; call once at the end of each invocation. */
  flush(): void {
    for (const metrics of this.#metricsByDimensions.values()) {
      // Skipping empty buffers avoids Powertools' "no metrics to publish" warning on every quiet invocation.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  }

  /** Add the Lambda request id and function details to every following log line. */
  addLambdaContext(context: Context): void {
    this.#logger.addContext(context);
  }

  #metricsFor(dimensions: Readonly<Record<string, string>>): Metrics {
    const key = JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let metrics = this.#metricsByDimensions.get(key);
    if (metrics === undefined) {
      metrics = new Metrics({
        namespace: METRICS_NAMESPACE,
        serviceName: SERVICE_NAME,
        defaultDimensions: { ...dimensions },
      });
      this.#metricsByDimensions.set(key, metrics);
    }
    return metrics;
  }
}
