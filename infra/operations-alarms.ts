/**
 * Operators learn about trouble: CloudWatch alarms on what should never happen (Lambda errors, InternalError
 * answers, orphaned certificates) and on what looks like an attack (a spike of wrong registration tokens or
 * lockouts, a spike of AWS WAF blocks), each optionally notifying an SNS topic, and one dashboard with the
 * same metrics. The metric names are those of contract/metrics.ts; README § Monitoring explains each.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE, ORPHANED_CERTIFICATES_METRIC } from '../contract/metrics.ts';

/** Wrong tokens plus lockouts in five minutes above which someone is probably guessing. */
export const DEFAULT_WRONG_TOKEN_THRESHOLD = 50;
/** Requests AWS WAF blocked in five minutes above which a client is flooding the API. */
export const DEFAULT_WAF_BLOCK_THRESHOLD = 100;

const FIVE_MINUTES = Duration.minutes(5);
/** The reconciler runs hourly by default; an orphan it reports stays visible for that long. */
const ONE_HOUR = Duration.hours(1);

export interface OperationsAlarmsProps {
  /** The resolver Lambdas (admin fields, and requestCertificate in a function of its own): errors of any count. */
  readonly resolverFunctions: readonly lambda.IFunction[];
  /** Name of the AWS WAF web ACL in front of the API, when known; without it there is no WAF alarm. */
  readonly webAclName?: string;
  /**
   * Where alarms notify (on ALARM and on OK).
   * @default - no notification: the alarms and the dashboard only
   */
  readonly alarmTopic?: sns.ITopic;
  /** @default DEFAULT_WRONG_TOKEN_THRESHOLD */
  readonly wrongTokenThreshold?: number;
  /** @default DEFAULT_WAF_BLOCK_THRESHOLD */
  readonly wafBlockThreshold?: number;
}

export class OperationsAlarms extends Construct {
  readonly resolverErrors: cloudwatch.Alarm;
  readonly internalErrors: cloudwatch.Alarm;
  readonly orphanedCertificates: cloudwatch.Alarm;
  readonly wrongTokens: cloudwatch.Alarm;
  /** Undefined when the web ACL's name is not known. */
  readonly wafBlocks: cloudwatch.Alarm | undefined;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);
    const functions = props.resolverFunctions;
    const lambdaErrors = sumOf(
      'Resolver Lambda errors',
      functions.map((fn) => fn.metricErrors({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM })),
    );
    this.resolverErrors = this.alarm('ResolverErrors', lambdaErrors, 1, {
      description: 'The cvm resolver Lambda failed (crash, timeout or out of memory): AppSync answered with an error.',
    });

    const internalErrors = cvmMetric(METRIC.requestFailed, FIVE_MINUTES, { errorType: 'InternalError' });
    this.internalErrors = this.alarm('InternalErrors', internalErrors, 1, {
      description:
        'cvm answered InternalError: a fault of its own or of AWS, not of the caller. Its log lines at level error say why.',
    });

    const orphans = cvmMetric(ORPHANED_CERTIFICATES_METRIC, ONE_HOUR);
    this.orphanedCertificates = this.alarm('OrphanedCertificates', orphans, 1, {
      description:
        'The reconciler found certificates that no device records (a crash between creating and recording one) and removed them.',
    });

    const wrongTokens = new cloudwatch.MathExpression({
      label: 'Wrong tokens and lockouts',
      expression: 'wrongTokens + lockouts',
      usingMetrics: {
        wrongTokens: cvmMetric(METRIC.requestFailed, FIVE_MINUTES, { errorType: 'InvalidRegistrationToken' }),
        lockouts: cvmMetric(METRIC.requestFailed, FIVE_MINUTES, { errorType: 'TooManyAttempts' }),
      },
      period: FIVE_MINUTES,
    });
    this.wrongTokens = this.alarm(
      'WrongTokens',
      wrongTokens,
      props.wrongTokenThreshold ?? DEFAULT_WRONG_TOKEN_THRESHOLD,
      {
        description:
          'Many requestCertificate calls with a wrong or expired token, an unknown serial, or for a locked device: someone may be guessing tokens or serials.',
      },
    );

    let wafBlocked: cloudwatch.Metric | undefined;
    if (props.webAclName !== undefined) {
      wafBlocked = new cloudwatch.Metric({
        namespace: 'AWS/WAFV2',
        metricName: 'BlockedRequests',
        dimensionsMap: { WebACL: props.webAclName, Region: Stack.of(this).region, Rule: 'ALL' },
        period: FIVE_MINUTES,
        statistic: cloudwatch.Stats.SUM,
      });
      this.wafBlocks = this.alarm('WafBlocks', wafBlocked, props.wafBlockThreshold ?? DEFAULT_WAF_BLOCK_THRESHOLD, {
        description:
          'AWS WAF blocked many requests to the cvm API: a client is over the rate limit (a flood, or a factory line behind one address).',
      });
    } else {
      this.wafBlocks = undefined;
    }

    if (props.alarmTopic !== undefined) {
      const notify = new actions.SnsAction(props.alarmTopic);
      for (const alarm of this.allAlarms()) {
        alarm.addAlarmAction(notify);
        alarm.addOkAction(notify);
      }
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'cvm alarms', alarms: this.allAlarms(), width: 24 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Certificates issued',
        left: [cvmMetric(METRIC.certificateIssued, FIVE_MINUTES)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Error answers by errorType',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${METRICS_NAMESPACE},service,errorType} MetricName="${METRIC.requestFailed}"', 'Sum', 300)`,
            label: '',
            period: FIVE_MINUTES,
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Wrong tokens, lockouts, throttling, orphans',
        left: [wrongTokens, cvmMetric(METRIC.throttled, FIVE_MINUTES), orphans],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Resolver Lambdas',
        left: [
          ...functions.map((fn) => fn.metricInvocations({ period: FIVE_MINUTES })),
          lambdaErrors,
          ...functions.map((fn) => fn.metricThrottles({ period: FIVE_MINUTES })),
        ],
        right: functions.map((fn) => fn.metricDuration({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.p(99) })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'AWS WAF',
        left: wafBlocked === undefined ? [] : [wafBlocked],
        width: 12,
      }),
    );
  }

  /** Every alarm of this construct. */
  allAlarms(): cloudwatch.Alarm[] {
    return [
      this.resolverErrors,
      this.internalErrors,
      this.orphanedCertificates,
      this.wrongTokens,
      this.wafBlocks,
    ].filter((alarm): alarm is cloudwatch.Alarm => alarm !== undefined);
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    options: { readonly description: string },
  ): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means nothing happened: no error, no orphan, no wrong token.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
  }
}

/** A cvm metric as the resolver's telemetry writes it: namespace, the `service` dimension, and `dimensions`. */
function cvmMetric(
  metricName: string,
  period: Duration,
  dimensions: Readonly<Record<string, string>> = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
    period,
    statistic: cloudwatch.Stats.SUM,
  });
}

/** The name in a regional web ACL ARN (…:regional/webacl/<name>/<id>), or undefined when it is not literal. */
export function webAclNameOf(arn: string): string | undefined {
  return /:regional\/webacl\/([^/]+)\/[^/]+$/.exec(arn)?.[1];
}

/** One metric, or the sum of several as a math expression (CloudWatch has no multi-function Errors metric). */
function sumOf(label: string, metrics: readonly cloudwatch.IMetric[]): cloudwatch.IMetric {
  const [only] = metrics;
  if (metrics.length === 1 && only !== undefined) return only;
  const usingMetrics = Object.fromEntries(metrics.map((metric, index) => [`m${index}`, metric]));
  return new cloudwatch.MathExpression({
    label,
    expression: Object.keys(usingMetrics).join(' + '),
    usingMetrics,
    period: FIVE_MINUTES,
  });
}
