/**
 * The app as `npm run synth` builds it passes the AWS Solutions checks of cdk-nag, and every acknowledgement
 * in it answers a finding that really exists, with a reason.
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Validations, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCvmApp, type CvmApp } from '../../infra/cvm-app.ts';
import { scratchAppProps, type ScratchApp } from './cdk-support.ts';

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement recorded in the construct tree, with the path of the construct that holds it. */
function acknowledgementsIn(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/** The AWS Solutions pack with acknowledgements ignored: what the templates would be blamed for. */
function unacknowledgedReport(root: IConstruct): PolicyValidationPluginReport {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(root);
}

const WITHOUT_CREDENTIALS = {};
const WITH_CREDENTIALS = { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'eu-west-1' };

/** Each way the app is synthesized: with and without a web ACL of its own, with and without credentials. */
const VARIANTS = [
  // As `npm run synth` runs with no credentials: no account or region, an environment-agnostic template.
  {
    name: 'without credentials',
    env: WITHOUT_CREDENTIALS,
    context: {},
    environment: 'aws://unknown-account/unknown-region',
    webAcls: 1,
  },
  // As `cdk deploy` runs with credentials: the CLI passes the account and region.
  {
    name: 'with an account and region',
    env: WITH_CREDENTIALS,
    context: {},
    environment: 'aws://123456789012/eu-west-1',
    webAcls: 1,
  },
  {
    name: 'with -c rateLimit=false -c reservedConcurrency=50',
    env: WITHOUT_CREDENTIALS,
    context: { rateLimit: 'false', reservedConcurrency: '50' },
    environment: 'aws://unknown-account/unknown-region',
    webAcls: 0,
  },
  {
    name: 'with -c webAclArn=<a web ACL of the region>',
    env: WITH_CREDENTIALS,
    context: { webAclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/fleet/0123abcd' },
    environment: 'aws://123456789012/eu-west-1',
    webAcls: 0,
  },
];

describe.each(VARIANTS)('cdk-nag AwsSolutionsChecks on the cvm app $name', ({ env, context, environment, webAcls }) => {
  let scratch: ScratchApp;
  let cvm: CvmApp;
  let synthError: unknown;

  beforeAll(() => {
    scratch = scratchAppProps(context);
    cvm = createCvmApp(scratch.props, env);
    try {
      cvm.app.synth();
    } catch (error) {
      synthError = error;
    }
  });

  afterAll(() => scratch?.cleanUp());

  it('synthesizes without validation failures', () => {
    expect(synthError).toBeUndefined();
    expect(cvm.stack.environment).toBe(environment);
    Template.fromStack(cvm.stack).resourceCountIs('AWS::WAFv2::WebACL', webAcls);
  });

  it('has zero unacknowledged findings, errors or warnings', () => {
    const report = new AwsSolutionsChecks().validateScope(cvm.app);
    expect(report.violations.map(({ ruleName, violatingResources }) => ({ ruleName, violatingResources }))).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('leaves no warning or error annotation on the stack', () => {
    const annotations = Annotations.fromStack(cvm.stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('acknowledges exactly the findings that exist, each on the resource that has it', () => {
    const findings = unacknowledgedReport(cvm.app).violations.flatMap(({ ruleName, violatingResources }) =>
      violatingResources.map((resource) => ({ id: ruleName, resource: resource.constructPath ?? '' })),
    );
    const acknowledgements = acknowledgementsIn(cvm.app);

    expect(findings.length).toBeGreaterThan(0);
    for (const finding of findings) {
      const holders = acknowledgements.filter(
        (acknowledgement) =>
          acknowledgement.id === finding.id &&
          (finding.resource === acknowledgement.path || finding.resource.startsWith(`${acknowledgement.path}/`)),
      );
      expect(holders, `${finding.id} on ${finding.resource}`).toHaveLength(1);
    }
    for (const acknowledgement of acknowledgements) {
      expect(
        findings.some((finding) => finding.id === acknowledgement.id),
        `${acknowledgement.id} acknowledged on ${acknowledgement.path} but never found`,
      ).toBe(true);
    }
  });

  it('gives every acknowledgement a rule id and a reason a reviewer can check', () => {
    for (const { id, reason, path } of acknowledgementsIn(cvm.app)) {
      expect(id, path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length, `${id} on ${path}`).toBeGreaterThan(80);
    }
  });

  it('acknowledges Resource "*" only for the two AWS IoT actions without resource-level permissions', () => {
    const starAcknowledgements = acknowledgementsIn(cvm.app).filter(
      ({ id }) => id === 'AwsSolutions-IAM5[Resource::*]',
    );
    expect(starAcknowledgements).toHaveLength(1);
    expect(starAcknowledgements[0]?.reason).toMatch(/CreateCertificateFromCsr.*DescribeEndpoint/);
  });
});
