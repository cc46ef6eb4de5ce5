/**
 * The CloudWatch metrics cvm writes, where the Lambda's telemetry writes them (Embedded Metric Format, namespace
 * and `service` dimension below) and where the operations alarms and dashboard read them. README § Monitoring
 * lists them for operators.
 */
export const METRICS_NAMESPACE = 'cvm';
/** Every metric carries the dimension `service` with this value (Powertools adds it); some carry more. */
export const METRICS_SERVICE = 'cvm';

/** What the resolver counts today. */
export const METRIC = {
  /** A certificate was issued and activated (one per enrolled device). */
  certificateIssued: 'CertificateIssued',
  /** A rotating device got its new certificate (pending its confirmation). */
  certificateRenewed: 'CertificateRenewed',
  /** A rotation committed: the device confirmed its new certificate and the old one is revoked. */
  certificateRotated: 'CertificateRotated',
  /** A rotation was rolled back: its new certificate was not confirmed by the deadline and is revoked. */
  rotationRolledBack: 'RotationRolledBack',
  /** An answer that is an error; with the dimension `errorType` (InvalidCsr, InternalError, …). */
  requestFailed: 'RequestFailed',
  /** A call to AWS was throttled and retried. */
  throttled: 'Throttled',
} as const;

/** A metric the core may count (Telemetry.count in resolvers/core/ports.ts). */
export type MetricName = (typeof METRIC)[keyof typeof METRIC] | typeof ORPHANED_CERTIFICATES_METRIC;

/**
 * Certificates a reconcile run found that no device records (a crash between creating and recording one),
 * counted once per orphan found, with only the `service` dimension. Written by the reconciler.
 */
export const ORPHANED_CERTIFICATES_METRIC = 'OrphanedCertificates';
