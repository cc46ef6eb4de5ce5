/**
 * The synthesized template of the cvm stack, read the way a reviewer would: auth modes, one resolver per schema
 * field, the Lambda, the table, every IAM statement, the device policy and the AWS WAF web ACL. One app with five
 * configurations is synthesized once (the Lambda is bundled once) and shared by all tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Duration, Expiration, RemovalPolicy, Stack, type Environment } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PARTITION_KEY, ROTATION_INDEX, SORT_KEY, STATUS_INDEX } from '../../contract/table-layout.ts';
import { LAMBDA_ENV } from '../../contract/lambda-environment.ts';
import { loadAppSyncSchema } from '../../contract/appsync-prelude.ts';
import {
  CertificateVendingMachine,
  type CertificateVendingMachineProps,
} from '../../infra/certificate-vending-machine.ts';
import { CvmStack } from '../../infra/cvm-stack.ts';
import { fieldsNeedingResolvers } from '../../contract/root-fields.ts';
import { flatten, iamPoliciesOf, REPO_ROOT, scratchAppProps, type ScratchApp } from './cdk-support.ts';

const SYNTH_TIME = new Date('2030-01-01T00:00:00Z');
const DAY_SECONDS = 24 * 3600;
const IOT = 'arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}';
const FLEET_WEB_ACL_ARN =
  'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/fleet/0123abcd-0123-4567-89ab-0123456789ab';

interface Synthesized {
  readonly stack: CvmStack;
  readonly template: Template;
  readonly json: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
}

let scratch: ScratchApp;
let outdir: string;
let standard: Synthesized;
let ownPolicy: Synthesized;
let tuned: Synthesized;
let noWebAcl: Synthesized;
let ownWebAcl: Synthesized;
let all: Synthesized[];

beforeAll(() => {
  scratch = scratchAppProps();
  outdir = scratch.props.outdir ?? '';
  const app = new App(scratch.props);
  const stacks: Record<string, CvmStack> = {};
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(SYNTH_TIME);
  try {
    stacks['standard'] = new CvmStack(app, 'Standard');
    stacks['ownPolicy'] = new CvmStack(app, 'OwnPolicy', { cvm: { existingDevicePolicyName: 'FleetPolicy' } });
    stacks['tuned'] = new CvmStack(app, 'Tuned', {
      cvm: {
        devicePolicyName: 'acme-devices',
        thingNamePrefix: 'acme-',
        tokenTtl: Duration.days(2),
        rotationWindow: Duration.days(3),
        apiKeyName: 'Devices2031',
        apiKeyExpiration: Expiration.after(Duration.days(30)),
        logRetention: RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.DESTROY,
        rateLimit: 500,
        reservedConcurrency: 20,
        iotCertificateRate: 40,
        introspection: false,
        reconcileEvery: Duration.hours(6),
      },
    });
    stacks['noWebAcl'] = new CvmStack(app, 'NoWebAcl', { cvm: { rateLimit: false, reconcileEvery: false } });
    stacks['ownWebAcl'] = new CvmStack(app, 'OwnWebAcl', { cvm: { webAclArn: FLEET_WEB_ACL_ARN } });
  } finally {
    vi.useRealTimers();
  }
  const read = (stack: CvmStack): Synthesized => {
    const template = Template.fromStack(stack);
    return { stack, template, json: template.toJSON() as Synthesized['json'] };
  };
  standard = read(stacks['standard']);
  ownPolicy = read(stacks['ownPolicy']);
  tuned = read(stacks['tuned']);
  noWebAcl = read(stacks['noWebAcl']);
  ownWebAcl = read(stacks['ownWebAcl']);
  all = [standard, ownPolicy, tuned, noWebAcl, ownWebAcl];
});

afterAll(() => scratch?.cleanUp());

function resourcesOf(synthesized: Synthesized, type: string) {
  return Object.entries(synthesized.json.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([logicalId, resource]) => ({ logicalId, ...resource }));
}

function onlyResource(synthesized: Synthesized, type: string) {
  const [resource, ...others] = resourcesOf(synthesized, type);
  expect(others).toHaveLength(0);
  if (resource === undefined) throw new Error(`no ${type} in the template`);
  return resource;
}

/** The function `Cvm<id>` (Resolver: every admin field; Issuer: requestCertificate alone). */
function functionOf(synthesized: Synthesized, id: 'Resolver' | 'Issuer') {
  const found = resourcesOf(synthesized, 'AWS::Lambda::Function').filter(({ logicalId }) =>
    new RegExp(`^Cvm${id}[0-9A-F]{8}$`).test(logicalId),
  );
  expect(found).toHaveLength(1);
  return found[0] as NonNullable<(typeof found)[number]>;
}

const FUNCTION_IDS = ['Resolver', 'Issuer'] as const;

function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
}

describe('CertificateVendingMachine', () => {
  describe('reconciler schedule', () => {
    it('invokes the resolver hourly by default with the reconcile mutation, as a role that may invoke only it', () => {
      const schedule = onlyResource(standard, 'AWS::Scheduler::Schedule');
      const properties = schedule.Properties as {
        ScheduleExpression: string;
        Target: { Arn: unknown; RoleArn: unknown; Input: unknown };
      };
      expect(properties.ScheduleExpression).toBe('rate(60 minutes)');
      const resolver = logicalIdOf(standard.stack, standard.stack.cvm.resolverFunction);
      expect(properties.Target.Arn).toEqual({ 'Fn::GetAtt': [resolver, 'Arn'] });
      const input = JSON.stringify(properties.Target.Input);
      expect(input).toContain('\\"fieldName\\":\\"reconcile\\"');
      expect(input).toContain('\\"dryRun\\":false');
      const roleId = (properties.Target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const policies = resourcesOf(standard, 'AWS::IAM::Policy').filter((policy) =>
        JSON.stringify((policy.Properties as { Roles: unknown }).Roles).includes(roleId),
      );
      expect(policies.map((policy) => (policy.Properties as { PolicyDocument: unknown }).PolicyDocument)).toEqual([
        expect.objectContaining({
          Statement: [
            expect.objectContaining({
              Action: 'lambda:InvokeFunction',
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [resolver, 'Arn'] },
            }),
          ],
        }),
      ]);
    });

    it('runs as often as reconcileEvery says, or not at all with false', () => {
      const tunedSchedule = onlyResource(tuned, 'AWS::Scheduler::Schedule');
      expect((tunedSchedule.Properties as { ScheduleExpression: string }).ScheduleExpression).toBe('rate(360 minutes)');
      expect(resourcesOf(noWebAcl, 'AWS::Scheduler::Schedule')).toEqual([]);
    });
  });

  describe('GraphQL API', () => {
    it('authorizes admins with IAM by default and devices with an API key', () => {
      standard.template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
        AuthenticationType: 'AWS_IAM',
        AdditionalAuthenticationProviders: [{ AuthenticationType: 'API_KEY' }],
      });
    });

    it('limits query depth and resolver invocations per request', () => {
      standard.template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
        QueryDepthLimit: 5,
        ResolverCountLimit: 10,
      });
    });

    it('answers introspection unless the introspection prop turns it off', () => {
      standard.template.hasResourceProperties('AWS::AppSync::GraphQLApi', { IntrospectionConfig: 'ENABLED' });
      tuned.template.hasResourceProperties('AWS::AppSync::GraphQLApi', { IntrospectionConfig: 'DISABLED' });
    });

    it('deploys schema.graphql unchanged', () => {
      const schema = onlyResource(standard, 'AWS::AppSync::GraphQLSchema');
      expect(schema.Properties['Definition']).toBe(readFileSync(path.join(REPO_ROOT, 'schema.graphql'), 'utf8'));
    });

    it('has one APPSYNC_JS resolver on the Lambda data source for every Query and Mutation field of the schema', () => {
      const schema = loadAppSyncSchema(readFileSync(path.join(REPO_ROOT, 'schema.graphql'), 'utf8'));
      const expected = fieldsNeedingResolvers(schema).map(({ typeName, fieldName }) => `${typeName}.${fieldName}`);
      const resolvers = resourcesOf(standard, 'AWS::AppSync::Resolver');

      expect(
        resolvers
          .map(({ Properties }) => `${String(Properties['TypeName'])}.${String(Properties['FieldName'])}`)
          .sort(),
      ).toEqual([...expected].sort());
      for (const { Properties } of resolvers) {
        const issues =
          Properties['TypeName'] === 'Mutation' &&
          ['requestCertificate', 'renewCertificate'].includes(String(Properties['FieldName']));
        expect(Properties).toMatchObject({
          Kind: 'UNIT',
          DataSourceName: issues ? 'CvmIssuer' : 'CvmResolver',
          Runtime: { Name: 'APPSYNC_JS', RuntimeVersion: '1.0.0' },
        });
      }
    });

    it('uploads resolvers/appsync/invoke.js unbundled as the resolver code', () => {
      const locations = new Set(
        resourcesOf(standard, 'AWS::AppSync::Resolver').map(({ Properties }) =>
          String(flatten(Properties['CodeS3Location'])),
        ),
      );
      expect(locations.size).toBe(1);
      const objectKey = path.posix.basename([...locations][0] ?? '');
      const uploaded = readFileSync(path.join(outdir, `asset.${objectKey}`), 'utf8');

      expect(uploaded).toBe(readFileSync(path.join(REPO_ROOT, 'resolvers', 'appsync', 'invoke.js'), 'utf8'));
    });

    it('invokes each function through its alias with a role that may invoke only those aliases', () => {
      const aliases = resourcesOf(standard, 'AWS::Lambda::Alias');
      const dataSources = resourcesOf(standard, 'AWS::AppSync::DataSource');
      expect(dataSources.map(({ Properties }) => Properties['Name']).sort()).toEqual(['CvmIssuer', 'CvmResolver']);
      for (const id of FUNCTION_IDS) {
        const fn = functionOf(standard, id);
        const alias = aliases.find(
          ({ Properties }) => (Properties['FunctionName'] as { Ref: string }).Ref === fn.logicalId,
        );
        const dataSource = dataSources.find(({ Properties }) => Properties['Name'] === `Cvm${id}`);
        expect(dataSource?.Properties).toMatchObject({
          Type: 'AWS_LAMBDA',
          LambdaConfig: { LambdaFunctionArn: { Ref: alias?.logicalId } },
        });
      }
      const roleIds = new Set(
        dataSources.map(
          ({ Properties }) => (Properties['ServiceRoleArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
        ),
      );
      expect(roleIds.size).toBe(1);
      const rolePolicies = resourcesOf(standard, 'AWS::IAM::Policy').filter(({ Properties }) =>
        (Properties['Roles'] as { Ref: string }[]).some((role) => roleIds.has(role.Ref)),
      );
      expect(rolePolicies.map(({ Properties }) => flatten(Properties['PolicyDocument']))).toEqual([
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'lambda:InvokeFunction',
              Resource: aliases.map(({ logicalId }) => `\${${logicalId}}`).sort(),
            },
          ],
        },
      ]);
    });

    it('lets only AppSync, for this API, assume the data source role', () => {
      const api = onlyResource(standard, 'AWS::AppSync::GraphQLApi');
      const [dataSource] = resourcesOf(standard, 'AWS::AppSync::DataSource');
      const roleId = (dataSource?.Properties['ServiceRoleArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

      expect(flatten(standard.json.Resources[roleId]?.Properties['AssumeRolePolicyDocument'])).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: 'appsync.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': `\${${api.logicalId}.Arn}` } },
          },
        ],
      });
    });

    it('logs requests at field level ERROR without verbose content, into a log group with retention', () => {
      const api = onlyResource(standard, 'AWS::AppSync::GraphQLApi');
      const logConfig = api.Properties['LogConfig'] as Record<string, unknown>;
      expect(logConfig).toMatchObject({ FieldLogLevel: 'ERROR', ExcludeVerboseContent: true });

      const logRoleId = (logConfig['CloudWatchLogsRoleArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const apiLogGroup = resourcesOf(standard, 'AWS::Logs::LogGroup').find(
        ({ Properties }) => flatten(Properties['LogGroupName']) === `/aws/appsync/apis/\${${api.logicalId}.ApiId}`,
      );
      expect(apiLogGroup?.Properties['RetentionInDays']).toBe(365);
      const logPolicy = resourcesOf(standard, 'AWS::IAM::Policy').find(({ Properties }) =>
        (Properties['Roles'] as { Ref: string }[]).some((role) => role.Ref === logRoleId),
      );
      expect(flatten(logPolicy?.Properties['PolicyDocument'])).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: `\${${apiLogGroup?.logicalId}.Arn}`,
          },
        ],
      });
    });

    it('traces requests with X-Ray', () => {
      standard.template.hasResourceProperties('AWS::AppSync::GraphQLApi', { XrayEnabled: true });
    });

    it.each([
      { name: 'defaults to a year', configuration: () => standard, days: 365 },
      { name: 'follows apiKeyExpiration', configuration: () => tuned, days: 30 },
    ])('gives the API key an expiry that $name', ({ configuration, days }) => {
      const apiKey = onlyResource(configuration(), 'AWS::AppSync::ApiKey');
      expect(apiKey.Properties['Expires']).toBe(SYNTH_TIME.getTime() / 1000 + days * DAY_SECONDS);
    });

    it('names the API key in its logical id, so that renaming it rotates the key', () => {
      expect(onlyResource(standard, 'AWS::AppSync::ApiKey').logicalId).toMatch(/^CvmApiDevicesApiKey/);
      expect(onlyResource(tuned, 'AWS::AppSync::ApiKey').logicalId).toMatch(/^CvmApiDevices2031ApiKey/);
    });
  });

  describe('resolver Lambda', () => {
    it('runs on Node.js 24 on arm64 with the handler of the bundle', () => {
      standard.template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogFormat: 'JSON' },
      });
    });

    it('is told the table, the device policy and, when given, the thing-name prefix and token lifetime', () => {
      const table = onlyResource(standard, 'AWS::DynamoDB::Table');
      for (const id of FUNCTION_IDS) {
        expect(functionOf(standard, id).Properties['Environment']).toEqual({
          Variables: {
            [LAMBDA_ENV.tableName]: { Ref: table.logicalId },
            [LAMBDA_ENV.devicePolicyName]: 'Standard-cvm-device',
            NODE_OPTIONS: '--enable-source-maps',
          },
        });
        expect(functionOf(tuned, id).Properties['Environment']).toMatchObject({
          Variables: {
            [LAMBDA_ENV.devicePolicyName]: 'acme-devices',
            [LAMBDA_ENV.thingNamePrefix]: 'acme-',
            [LAMBDA_ENV.tokenTtlSeconds]: String(2 * DAY_SECONDS),
            [LAMBDA_ENV.rotationWindowSeconds]: String(3 * DAY_SECONDS),
          },
        });
      }
    });

    it('has no reserved concurrency for admin fields unless reservedConcurrency is given', () => {
      expect(functionOf(standard, 'Resolver').Properties['ReservedConcurrentExecutions']).toBeUndefined();
      expect(functionOf(tuned, 'Resolver').Properties['ReservedConcurrentExecutions']).toBe(20);
    });

    it('caps requestCertificate at iotCertificateRate + 1 concurrent issuances (15 per second by default)', () => {
      expect(functionOf(standard, 'Issuer').Properties['ReservedConcurrentExecutions']).toBe(16);
      expect(functionOf(tuned, 'Issuer').Properties['ReservedConcurrentExecutions']).toBe(41);
    });

    it('runs both functions from one bundle', () => {
      const keys = FUNCTION_IDS.map((id) => (functionOf(standard, id).Properties['Code'] as { S3Key: string }).S3Key);
      expect(new Set(keys).size).toBe(1);
    });

    it('writes to its own log group with retention, through a role with no managed policy', () => {
      const logGroupIds = FUNCTION_IDS.map(
        (id) => (functionOf(standard, id).Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref,
      );
      expect(new Set(logGroupIds).size).toBe(2);
      for (const logGroupId of logGroupIds) {
        expect(standard.json.Resources[logGroupId]?.Properties['RetentionInDays']).toBe(365);
      }
      expect(tuned.template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 90 } })).not.toEqual(
        {},
      );
      for (const { Properties } of resourcesOf(standard, 'AWS::IAM::Role')) {
        expect(Properties['ManagedPolicyArns']).toBeUndefined();
      }
    });

    describe('bundle', () => {
      let bundleFile: string;

      beforeAll(() => {
        // A zip asset is staged in the cloud assembly as the folder asset.<hash>, uploaded as <hash>.zip.
        const code = functionOf(standard, 'Resolver').Properties['Code'] as { S3Key: string };
        bundleFile = path.join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
      });

      it('is minified ESM with a source map, made by local esbuild', () => {
        expect(existsSync(`${bundleFile}.map`)).toBe(true);
        const bundle = readFileSync(bundleFile, 'utf8');
        expect(bundle.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(true);
        expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
      });

      it('loads in a fresh Node.js with reflect-metadata before @peculiar/x509 and exports the handler', () => {
        // A child process, so that nothing this test process loaded (the setup imports reflect-metadata) helps.
        const probe = [
          `const before = typeof Reflect.getMetadata;`,
          `const bundle = await import(${JSON.stringify(pathToFileURL(bundleFile).href)});`,
          `console.log(JSON.stringify({ before, after: typeof Reflect.getMetadata, handler: typeof bundle.handler }));`,
        ].join('\n');
        const output = execFileSync(process.execPath, ['--input-type=module', '--eval', probe], { encoding: 'utf8' });

        expect(JSON.parse(output)).toEqual({ before: 'undefined', after: 'function', handler: 'function' });
      });
    });
  });

  describe('AWS WAF', () => {
    it('puts a regional web ACL in front of the API that allows all but an IP address over 2,000 requests in 5 minutes', () => {
      const webAcl = onlyResource(standard, 'AWS::WAFv2::WebACL');
      expect(webAcl.Properties).toMatchObject({
        Scope: 'REGIONAL',
        DefaultAction: { Allow: {} },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
      });
      const rules = webAcl.Properties['Rules'] as Record<string, unknown>[];
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatchObject({
        Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
        Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
      });
    });

    it('associates that web ACL with the GraphQL API', () => {
      const api = onlyResource(standard, 'AWS::AppSync::GraphQLApi');
      const webAcl = onlyResource(standard, 'AWS::WAFv2::WebACL');
      expect(flatten(onlyResource(standard, 'AWS::WAFv2::WebACLAssociation').Properties)).toEqual({
        ResourceArn: `\${${api.logicalId}.Arn}`,
        WebACLArn: `\${${webAcl.logicalId}.Arn}`,
      });
      expect(standard.stack.cvm.webAcl).toBeDefined();
    });

    it('names the web ACL and its metrics after the stack', () => {
      const webAcl = onlyResource(standard, 'AWS::WAFv2::WebACL');
      expect(webAcl.Properties['Name']).toBe('Standard-cvm');
      expect(webAcl.Properties['VisibilityConfig']).toMatchObject({ MetricName: 'Standard-cvm' });
      const [rule] = webAcl.Properties['Rules'] as { VisibilityConfig: { MetricName: string } }[];
      expect(rule?.VisibilityConfig.MetricName).toMatch(/^Standard-cvm-/);
    });

    it('follows rateLimit', () => {
      tuned.template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Rules: [Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 500 }) } })],
      });
    });

    it('creates no web ACL and no association with rateLimit false', () => {
      noWebAcl.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
      noWebAcl.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
      expect(noWebAcl.stack.cvm.webAcl).toBeUndefined();
      expect(noWebAcl.stack.cvm.webAclArn).toBeUndefined();
    });

    it('associates a brought web ACL by its ARN and creates none', () => {
      const api = onlyResource(ownWebAcl, 'AWS::AppSync::GraphQLApi');
      ownWebAcl.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
      expect(flatten(onlyResource(ownWebAcl, 'AWS::WAFv2::WebACLAssociation').Properties)).toEqual({
        ResourceArn: `\${${api.logicalId}.Arn}`,
        WebACLArn: FLEET_WEB_ACL_ARN,
      });
    });
  });

  describe('DynamoDB table', () => {
    it('has the keys, the status index and the rotation index of contract/table-layout.ts', () => {
      standard.template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: SORT_KEY, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [STATUS_INDEX, ROTATION_INDEX].map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      });
    });

    it('is on-demand, with point-in-time recovery and deletion protection, and retained', () => {
      standard.template.hasResource('AWS::DynamoDB::Table', {
        Properties: Match.objectLike({
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it('drops deletion protection only when the removal policy is DESTROY', () => {
      tuned.template.hasResource('AWS::DynamoDB::Table', {
        Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
        DeletionPolicy: 'Delete',
      });
    });
  });

  describe('IAM', () => {
    it('grants both functions, through one role, exactly the IoT and DynamoDB calls they make, here', () => {
      const functions = FUNCTION_IDS.map((id) => functionOf(standard, id));
      const roleIds = new Set(
        functions.map((fn) => (fn.Properties['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]),
      );
      expect(roleIds.size).toBe(1);
      const policy = resourcesOf(standard, 'AWS::IAM::Policy').find(({ Properties }) =>
        (Properties['Roles'] as { Ref: string }[]).some((role) => roleIds.has(role.Ref)),
      );
      const table = onlyResource(standard, 'AWS::DynamoDB::Table').logicalId;
      const logGroups = functions.map(
        (fn) => (fn.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref,
      );

      expect(flatten(policy?.Properties['PolicyDocument'])).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'IotActionsWithoutResourceLevelPermissions',
            Effect: 'Allow',
            Action: ['iot:CreateCertificateFromCsr', 'iot:DescribeEndpoint', 'iot:ListCertificates'],
            Resource: '*',
          },
          {
            Sid: 'IotDeviceCertificates',
            Effect: 'Allow',
            Action: ['iot:DeleteCertificate', 'iot:DescribeCertificate', 'iot:UpdateCertificate'],
            Resource: `${IOT}:cert/*`,
          },
          {
            Sid: 'IotThings',
            Effect: 'Allow',
            Action: ['iot:CreateThing', 'iot:UpdateThing'],
            Resource: `${IOT}:thing/*`,
          },
          {
            Sid: 'IotDevicePolicyAttachment',
            Effect: 'Allow',
            Action: ['iot:AttachPolicy', 'iot:DetachPolicy'],
            Resource: [`${IOT}:cert/*`, `${IOT}:policy/Standard-cvm-device`],
          },
          {
            Sid: 'IotThingPrincipalAttachment',
            Effect: 'Allow',
            Action: ['iot:AttachThingPrincipal', 'iot:DetachThingPrincipal'],
            Resource: [`${IOT}:cert/*`, `${IOT}:thing/*`],
          },
          {
            Sid: 'DeviceTable',
            Effect: 'Allow',
            Action: [
              'dynamodb:BatchGetItem',
              'dynamodb:BatchWriteItem',
              'dynamodb:DeleteItem',
              'dynamodb:GetItem',
              'dynamodb:PutItem',
              'dynamodb:Query',
              'dynamodb:UpdateItem',
            ],
            Resource: `\${${table}.Arn}`,
          },
          {
            Sid: 'DeviceTableIndexes',
            Effect: 'Allow',
            Action: 'dynamodb:Query',
            Resource: [STATUS_INDEX, ROTATION_INDEX].map((index) => `\${${table}.Arn}/index/${index.name}`).sort(),
          },
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: logGroups.map((logGroup) => `\${${logGroup}.Arn}`).sort(),
          },
        ],
      });
    });

    it('has no wildcard action, no NotAction or NotResource and never CreateKeysAndCertificate', () => {
      for (const synthesized of all) {
        for (const { logicalId, statements } of iamPoliciesOf(synthesized.json)) {
          for (const statement of statements) {
            expect(statement, logicalId).not.toHaveProperty('NotAction');
            expect(statement, logicalId).not.toHaveProperty('NotResource');
            for (const action of statement.Action) {
              expect(action, logicalId).not.toContain('*');
              expect(action, logicalId).not.toBe('iot:CreateKeysAndCertificate');
            }
          }
        }
      }
    });

    it('uses Resource "*" only for CreateCertificateFromCsr, DescribeEndpoint and ListCertificates, which allow nothing narrower', () => {
      for (const synthesized of all) {
        const starStatements = iamPoliciesOf(synthesized.json)
          .flatMap(({ statements }) => statements)
          .filter((statement) => statement.Resource.includes('*'));

        expect(starStatements).toEqual([
          expect.objectContaining({
            Action: ['iot:CreateCertificateFromCsr', 'iot:DescribeEndpoint', 'iot:ListCertificates'],
            Resource: ['*'],
          }),
        ]);
      }
    });

    it("limits every other wildcard resource to this account's and region's certificates and things", () => {
      for (const synthesized of all) {
        const wildcardResources = new Set(
          iamPoliciesOf(synthesized.json)
            .flatMap(({ statements }) => statements.flatMap((statement) => statement.Resource))
            .filter((resource) => resource !== '*' && resource.includes('*')),
        );
        expect(wildcardResources).toEqual(new Set([`${IOT}:cert/*`, `${IOT}:thing/*`]));
      }
    });

    it('attaches a brought-in device policy by its own ARN', () => {
      const attachment = iamPoliciesOf(ownPolicy.json)
        .flatMap(({ statements }) => statements)
        .find((statement) => statement.Sid === 'IotDevicePolicyAttachment');
      expect(attachment?.Resource).toEqual([`${IOT}:cert/*`, `${IOT}:policy/FleetPolicy`]);
    });
  });

  describe('device policy', () => {
    it('binds each device to its own thing: client id, its topics and its shadow only', () => {
      const policy = onlyResource(standard, 'AWS::IoT::Policy');
      const thing = '${iot:Connection.Thing.ThingName}';

      expect(policy.Properties['PolicyName']).toBe('Standard-cvm-device');
      expect(flatten(policy.Properties['PolicyDocument'])).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: `${IOT}:client/${thing}`,
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          {
            Effect: 'Allow',
            Action: 'iot:Publish',
            Resource: [`${IOT}:topic/things/${thing}/*`, `${IOT}:topic/$aws/things/${thing}/shadow/*`],
          },
          {
            Effect: 'Allow',
            Action: 'iot:Receive',
            Resource: [`${IOT}:topic/things/${thing}/*`, `${IOT}:topic/$aws/things/${thing}/shadow/*`],
          },
          {
            Effect: 'Allow',
            Action: 'iot:Subscribe',
            Resource: [`${IOT}:topicfilter/things/${thing}/*`, `${IOT}:topicfilter/$aws/things/${thing}/shadow/*`],
          },
        ],
      });
    });

    it('is kept on stack deletion by default (AWS IoT refuses to delete a policy attached to certificates)', () => {
      standard.template.hasResource('AWS::IoT::Policy', { DeletionPolicy: 'Retain' });
    });

    it('takes the configured name', () => {
      tuned.template.hasResourceProperties('AWS::IoT::Policy', { PolicyName: 'acme-devices' });
    });

    it('is not created when the user brings their own, which the Lambda then attaches', () => {
      ownPolicy.template.resourceCountIs('AWS::IoT::Policy', 0);
      ownPolicy.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ [LAMBDA_ENV.devicePolicyName]: 'FleetPolicy' }) },
      });
      expect(ownPolicy.stack.cvm.devicePolicy).toBeUndefined();
    });
  });

  describe('outputs', () => {
    it('give the GraphQL URL, the API id, the API key id, the table name and the device policy name', () => {
      const api = logicalIdOf(standard.stack, standard.stack.cvm.api);
      const table = logicalIdOf(standard.stack, standard.stack.cvm.table);
      const outputs = standard.template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;

      expect(
        Object.fromEntries(Object.entries(outputs).map(([name, output]) => [name, flatten(output.Value)])),
      ).toEqual({
        GraphqlUrl: `\${${api}.GraphQLUrl}`,
        GraphqlApiId: `\${${api}.ApiId}`,
        ApiKeyId: `\${${standard.stack.getLogicalId(standard.stack.cvm.apiKey)}.ApiKeyId}`,
        TableName: `\${${table}}`,
        DevicePolicyName: 'Standard-cvm-device',
        WebAclArn: `\${${standard.stack.getLogicalId(standard.stack.cvm.webAcl as CfnWebACL)}.Arn}`,
      });
    });

    it.each([
      { name: 'the brought web ACL', configuration: () => ownWebAcl, value: FLEET_WEB_ACL_ARN },
      { name: 'nothing without a web ACL', configuration: () => noWebAcl, value: undefined },
    ])('give as WebAclArn $name', ({ configuration, value }) => {
      const outputs = configuration().template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
      expect(outputs['WebAclArn']?.Value).toEqual(value);
    });
  });

  describe('props', () => {
    it.each<{ name: string; props: CertificateVendingMachineProps; env?: Environment; error: RegExp }>([
      {
        name: 'both a policy to create and a policy to bring',
        props: { devicePolicyName: 'a', existingDevicePolicyName: 'b' },
        error: /not both/,
      },
      { name: 'a device policy name AWS IoT rejects', props: { devicePolicyName: 'no spaces' }, error: /policy name/ },
      {
        name: 'an existing policy name AWS IoT rejects',
        props: { existingDevicePolicyName: 'x'.repeat(129) },
        error: /policy name/,
      },
      {
        name: 'a thing-name prefix outside the thing-name set',
        props: { thingNamePrefix: 'acme/' },
        error: /thingNamePrefix/,
      },
      { name: 'a token lifetime under a minute', props: { tokenTtl: Duration.seconds(59) }, error: /tokenTtl/ },
      { name: 'a token lifetime over a year', props: { tokenTtl: Duration.days(366) }, error: /tokenTtl/ },
      {
        name: 'a rotation window under a minute',
        props: { rotationWindow: Duration.seconds(59) },
        error: /rotationWindow/,
      },
      {
        name: 'a rate limit and a web ACL to bring',
        props: { rateLimit: 1000, webAclArn: FLEET_WEB_ACL_ARN },
        error: /not both/,
      },
      {
        name: 'rateLimit false and a web ACL to bring',
        props: { rateLimit: false, webAclArn: FLEET_WEB_ACL_ARN },
        error: /not both/,
      },
      { name: 'a rate limit under WAF minimum of 10', props: { rateLimit: 9 }, error: /rateLimit.*10 to/ },
      { name: 'a rate limit over WAF maximum', props: { rateLimit: 2_000_000_001 }, error: /rateLimit/ },
      { name: 'a fractional rate limit', props: { rateLimit: 100.5 }, error: /rateLimit/ },
      {
        name: 'a CloudFront (global) web ACL',
        props: { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/0123abcd' },
        error: /regional/,
      },
      { name: 'a web ACL ARN that is not one', props: { webAclArn: 'fleet' }, error: /webAclArn "fleet"/ },
      {
        name: 'a web ACL in another region than the stack',
        props: { webAclArn: FLEET_WEB_ACL_ARN },
        env: { account: '123456789012', region: 'us-east-1' },
        error: /eu-west-1 but the stack deploys to us-east-1/,
      },
      { name: 'a reserved concurrency of 0', props: { reservedConcurrency: 0 }, error: /reservedConcurrency/ },
      { name: 'a fractional reserved concurrency', props: { reservedConcurrency: 1.5 }, error: /reservedConcurrency/ },
      { name: 'an AWS IoT certificate rate of 0', props: { iotCertificateRate: 0 }, error: /iotCertificateRate/ },
    ])('rejects $name', ({ props, env, error }) => {
      const stack = new Stack(new App(), 'Invalid', env === undefined ? {} : { env });
      expect(() => new CertificateVendingMachine(stack, 'Cvm', props)).toThrow(error);
    });
  });
});
