/**
 * The operations alarms and dashboard as synthesized: each alarm reads the metric the code really writes
 * (namespace, name, every dimension, or the AWS one), with its threshold, and notifies the topic when one is given.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE, ORPHANED_CERTIFICATES_METRIC } from '../../contract/metrics.ts';
import { CvmStack } from '../../infra/cvm-stack.ts';
import { DEFAULT_WAF_BLOCK_THRESHOLD, DEFAULT_WRONG_TOKEN_THRESHOLD } from '../../infra/operations-alarms.ts';
import { flatten, scratchAppProps, type ScratchApp } from './cdk-support.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

let scratch: ScratchApp;
let withTopic: { template: Template; resources: Resources; topicLogicalId: string };
let withoutWebAcl: Template;
let ownWebAcl: Template;

function alarmsOf(resources: Resources): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(resources)
      .filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm')
      .map(([logicalId, resource]) => [
        logicalId.replace(/^CvmOperations([A-Za-z]+?)[0-9A-F]{8}$/, '$1'),
        resource.Properties,
      ]),
  );
}

beforeAll(() => {
  scratch = scratchAppProps();
  const app = new App(scratch.props);
  const topicStack = new Stack(app, 'Topics');
  const topic = new sns.Topic(topicStack, 'OnCall');
  const stack = new CvmStack(app, 'Alarmed', { cvm: { alarmTopic: topic } });
  const bare = new CvmStack(app, 'Bare', { cvm: { rateLimit: false } });
  const ownAcl = new CvmStack(app, 'OwnAcl', {
    env: { account: '123456789012', region: 'eu-west-1' },
    cvm: { webAclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/fleet/0123abcd' },
  });
  const template = Template.fromStack(stack);
  withTopic = {
    template,
    resources: template.toJSON().Resources as Resources,
    topicLogicalId: topicStack.getLogicalId(topic.node.defaultChild as sns.CfnTopic),
  };
  withoutWebAcl = Template.fromStack(bare);
  ownWebAcl = Template.fromStack(ownAcl);
});

afterAll(() => scratch?.cleanUp());

describe('OperationsAlarms', () => {
  it('alarms on Lambda errors, InternalError answers, orphans, wrong tokens and WAF blocks', () => {
    const alarms = alarmsOf(withTopic.resources);
    expect(Object.keys(alarms).sort()).toEqual(
      ['InternalErrors', 'OrphanedCertificates', 'ResolverErrors', 'WafBlocks', 'WrongTokens'].sort(),
    );
    for (const alarm of Object.values(alarms)) {
      expect(alarm['ComparisonOperator']).toBe('GreaterThanOrEqualToThreshold');
      expect(alarm['TreatMissingData']).toBe('notBreaching');
      expect(String(alarm['AlarmDescription']).length).toBeGreaterThan(40);
    }
  });

  it('reads InternalError answers and orphans where the telemetry writes them, with every dimension', () => {
    const alarms = alarmsOf(withTopic.resources);
    expect(alarms['InternalErrors']).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.requestFailed,
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: METRICS_SERVICE },
        { Name: 'errorType', Value: 'InternalError' },
      ]) as unknown,
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
    });
    expect(alarms['OrphanedCertificates']).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: ORPHANED_CERTIFICATES_METRIC,
      Dimensions: [{ Name: 'service', Value: METRICS_SERVICE }],
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 1,
    });
  });

  it('adds wrong tokens and lockouts in one expression', () => {
    const alarm = alarmsOf(withTopic.resources)['WrongTokens'];
    expect(alarm?.['Threshold']).toBe(DEFAULT_WRONG_TOKEN_THRESHOLD);
    const metrics = alarm?.['Metrics'] as { Id: string; Expression?: string; MetricStat?: { Metric: unknown } }[];
    expect(metrics.find((metric) => metric.Expression !== undefined)?.Expression).toBe('wrongTokens + lockouts');
    const errorTypes = metrics
      .filter((metric) => metric.MetricStat !== undefined)
      .map(
        (metric) => metric.MetricStat?.Metric as { MetricName: string; Dimensions: { Name: string; Value: string }[] },
      )
      .map((metric) => [
        metric.MetricName,
        metric.Dimensions.find((dimension) => dimension.Name === 'errorType')?.Value,
      ]);
    expect(errorTypes.sort()).toEqual([
      [METRIC.requestFailed, 'InvalidRegistrationToken'],
      [METRIC.requestFailed, 'TooManyAttempts'],
    ]);
  });

  it('reads the errors of both resolver Lambdas (admin fields and requestCertificate), summed', () => {
    const alarm = alarmsOf(withTopic.resources)['ResolverErrors'];
    expect(alarm?.['Threshold']).toBe(1);
    const metrics = alarm?.['Metrics'] as {
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: unknown }; Stat: string };
    }[];
    expect(metrics.find((metric) => metric.ReturnData !== false)?.Expression).toBe('m0 + m1');
    const stats = metrics.flatMap((metric) => (metric.MetricStat === undefined ? [] : [metric.MetricStat]));
    for (const stat of stats) {
      expect(stat).toMatchObject({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors' }, Stat: 'Sum' });
    }
    const functionNames = stats.map(
      (stat) => (flatten(stat.Metric.Dimensions) as { Name: string; Value: string }[])[0]?.Value,
    );
    expect(functionNames).toHaveLength(2);
    expect(functionNames.join(' ')).toMatch(/\$\{CvmResolver[0-9A-F]{8}\}/);
    expect(functionNames.join(' ')).toMatch(/\$\{CvmIssuer[0-9A-F]{8}\}/);
  });

  it('reads the blocked requests of the web ACL it created, or of the one brought by ARN', () => {
    const created = alarmsOf(withTopic.resources)['WafBlocks'];
    expect(created?.['Threshold']).toBe(DEFAULT_WAF_BLOCK_THRESHOLD);
    expect(flatten(created?.['Dimensions'])).toEqual([
      { Name: 'Region', Value: '${AWS::Region}' },
      { Name: 'Rule', Value: 'ALL' },
      { Name: 'WebACL', Value: 'Alarmed-cvm' },
    ]);
    ownWebAcl.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/WAFV2',
      MetricName: 'BlockedRequests',
      Dimensions: [
        { Name: 'Region', Value: 'eu-west-1' },
        { Name: 'Rule', Value: 'ALL' },
        { Name: 'WebACL', Value: 'fleet' },
      ],
    });
  });

  it('has no WAF alarm without a web ACL', () => {
    withoutWebAcl.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    withoutWebAcl.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { Namespace: 'AWS/WAFV2' }, 0);
  });

  it('notifies the topic on ALARM and on OK, and no one without a topic', () => {
    for (const alarm of Object.values(alarmsOf(withTopic.resources))) {
      expect(JSON.stringify(alarm['AlarmActions'])).toContain(withTopic.topicLogicalId);
      expect(JSON.stringify(alarm['OKActions'])).toContain(withTopic.topicLogicalId);
    }
    withoutWebAcl.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { AlarmActions: Match.anyValue() }, 0);
  });

  it('has one dashboard with the alarms and the metrics', () => {
    withTopic.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [dashboard] = Object.values(withTopic.resources).filter(
      (resource) => resource.Type === 'AWS::CloudWatch::Dashboard',
    );
    const body = String(flatten(dashboard?.Properties['DashboardBody']));
    const widgets = (JSON.parse(body) as { widgets: { type: string }[] }).widgets;
    expect(widgets.map((widget) => widget.type)).toContain('alarm');
    for (const name of [
      METRIC.certificateIssued,
      METRIC.requestFailed,
      METRIC.throttled,
      ORPHANED_CERTIFICATES_METRIC,
    ]) {
      expect(body).toContain(name);
    }
    expect(body).toContain('BlockedRequests');
  });
});
