/**
 * cvm in AWS, as one construct that a CDK app can embed: the AppSync API from schema.graphql behind an AWS WAF
 * rate limit, the resolver Lambda, the DynamoDB table and the AWS IoT device policy, each with the least privilege
 * it needs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, Duration, Expiration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { PARTITION_KEY, ROTATION_INDEX, SORT_KEY, STATUS_INDEX } from '../contract/table-layout.ts';
import { ROTATION_WINDOW_BOUNDS, TOKEN_TTL_BOUNDS } from '../resolvers/core/context.ts';
import { THING_NAME_PATTERN } from '../resolvers/core/identifiers.ts';
import { LAMBDA_ENV } from '../contract/lambda-environment.ts';
import type { ResolverEvent } from '../contract/lambda-envelope.ts';
import { createRateLimitWebAcl, DEFAULT_RATE_LIMIT, validateRateLimit, validateWebAclArn } from './api-rate-limit.ts';
import { loadAppSyncSchema } from '../contract/appsync-prelude.ts';
import { SCHEMA_FILE } from '../contract/schema-file.ts';
import { APPSYNC_REQUEST_LIMITS } from '../contract/request-limits.ts';
import { devicePolicyDocument } from '../contract/device-policy.ts';
import { OperationsAlarms, webAclNameOf } from './operations-alarms.ts';
import { IOT_CERTIFICATES_ARN, IOT_THINGS_ARN, resolverPolicyStatements } from './resolver-permissions.ts';
import { fieldsNeedingResolvers } from '../contract/root-fields.ts';
import { DEFAULT_IOT_CERTIFICATE_RATE, isAdmittedField, issuanceConcurrency } from '../contract/issuance-capacity.ts';
import { LAMBDA_TIMEOUT_SECONDS, RESOLVER_CODE_FILE } from '../contract/resolver-code.ts';
import { DEFAULT_INTROSPECTION, introspectionConfig } from '../contract/introspection.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_RESOLVER_ENTRY = path.join(REPO_ROOT, 'resolvers', 'lambda.ts');
export { RESOLVER_CODE_FILE };

/** AWS IoT policy names: 1-128 of letters, digits and `_+=,.@-`. */
const IOT_POLICY_NAME_PATTERN = /^[\w+=,.@-]{1,128}$/;

export interface CertificateVendingMachineProps {
  /**
   * When the device API key expires (1 to 365 days ahead, AppSync's bounds). The time is computed at synth,
   * so every deploy moves the expiry forward again: a stack deployed at least once a year keeps its key.
   * @default Expiration.after(Duration.days(365))
   */
  readonly apiKeyExpiration?: Expiration;
  /**
   * Name of the device API key. It is part of the key's logical id: changing it replaces the key (a new key
   * value, the old one deleted) on the next deploy, which is how the key is rotated.
   * @default 'Devices'
   */
  readonly apiKeyName?: string;
  /**
   * Name of the AWS IoT policy this construct creates and attaches to every certificate it issues.
   * @default `<stack name>-cvm-device`
   */
  readonly devicePolicyName?: string;
  /**
   * Bring your own device policy: attach this existing AWS IoT policy instead of creating one.
   * Mutually exclusive with `devicePolicyName`.
   * @default - the construct creates the device policy
   */
  readonly existingDevicePolicyName?: string;
  /**
   * Prefix of thing names that default to the serial number (a thing name given at registration is kept).
   * @default '' (the thing name is the serial number)
   */
  readonly thingNamePrefix?: string;
  /**
   * Default lifetime of a registration token when the admin does not give one (60 s to 365 days).
   * @default - the resolver's own default, 7 days
   */
  readonly tokenTtl?: Duration;
  /**
   * How long a device that renewed its certificate has to confirm the new one before it is revoked and the old one
   * kept (a rollback), from a minute to 365 days. The reconciler's schedule also runs the rollbacks, so a rollback
   * happens within `reconcileEvery` after the deadline (or at the device's next call).
   * @default Duration.days(7)
   */
  readonly rotationWindow?: Duration;
  /**
   * Retention of the resolver's and the API's log groups.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the data on stack deletion: the table, the log groups and the created device policy (which
   * AWS IoT cannot delete while certificates are attached to it). Deletion protection stays on the table
   * unless this is DESTROY.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The resolver Lambda's entry file, exporting `handler`. It needs a package lock file in its folder or above.
   * @default resolvers/lambda.ts of this repository
   */
  readonly resolverEntry?: string;
  /**
   * Name of the GraphQL API.
   * @default `<stack name>-cvm`
   */
  readonly apiName?: string;
  /**
   * Whether the API answers introspection (`__schema`, `__type`), AppSync's introspectionConfig. Schema tools
   * (graphql-codegen, IDE plugins) need it; in production, disable it unless clients load the schema at run time.
   * The local twin honours the same default (contract/introspection.ts).
   * @default true
   */
  readonly introspection?: boolean;
  /**
   * AWS WAF rate limit on the GraphQL API: requests per 5 minutes from one source IP address, over all fields
   * and both auth modes (WAF counts before AppSync authorizes). An address over it gets HTTP 429 with a GraphQL
   * error of type Throttled until its rate falls back under the limit. 10 to 2,000,000,000 (WAF's bounds), or
   * `false` for no web ACL. Mutually exclusive with `webAclArn`.
   * @default 2000 (see DEFAULT_RATE_LIMIT: a factory line behind one NAT address can live with it)
   */
  readonly rateLimit?: number | false;
  /**
   * Bring your own web ACL: associate this AWS WAF web ACL with the API instead of creating one. It must be
   * REGIONAL and in the stack's region (AppSync cannot use a CloudFront one). Mutually exclusive with `rateLimit`.
   * @default - the construct creates a web ACL with the `rateLimit` rule
   */
  readonly webAclArn?: string;
  /**
   * Reserved concurrency of the resolver Lambda: both a floor (cvm can always run this many) and a ceiling (a
   * flood cannot take more of the account's concurrency than this). Opt-in, because reserving takes that many
   * from the account's pool for every other function, and AWS refuses a value that leaves fewer than 100
   * unreserved. AppSync reports a throttled invocation, which the resolver code turns into the GraphQL error
   * Throttled that clients retry.
   * @default - unreserved: the resolver shares the account's pool
   */
  readonly reservedConcurrency?: number;
  /**
   * Where the operations alarms notify, on ALARM and on OK (see `operations` and README § Monitoring).
   * @default - no notification: the alarms and the dashboard only
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * The account's AWS IoT certificate quota in this region, in calls per second (CreateCertificateFromCsr and its
   * neighbours; see Service Quotas). requestCertificate runs in a function of its own whose reserved concurrency is
   * derived from it (rate + 1, contract/issuance-capacity.ts): a burst beyond that is answered Throttled by AppSync
   * before any AWS IoT call, instead of spending quota on certificates that a throttled request then throws away.
   * Admin fields run in the other function and never wait behind a burst of devices. Reserving takes that many from
   * the account's concurrency pool, which must keep 100 unreserved.
   * @default 15 (AWS IoT's default quota in most regions)
   */
  readonly iotCertificateRate?: number;
  /**
   * How often the reconciler runs (EventBridge Scheduler invokes the resolver with the `reconcile` mutation): it
   * removes certificates a crash left unrecorded, finishes abandoned claims and runs the rotation sweep (rolls back
   * rotations past their deadline). `false` for no schedule (run `cvm admin reconcile` yourself; an unconfirmed
   * rotation is then rolled back only at the device's next call or your next reconcile).
   * @default Duration.hours(1)
   */
  readonly reconcileEvery?: Duration | false;
}

export class CertificateVendingMachine extends Construct {
  readonly api: appsync.GraphqlApi;
  readonly apiKey: appsync.CfnApiKey;
  readonly table: dynamodb.Table;
  readonly resolverFunction: NodejsFunction;
  /** Serves the issuing fields alone, with the reserved concurrency derived from `iotCertificateRate`. */
  readonly issuerFunction: NodejsFunction;
  /** The AWS IoT policy attached to issued certificates (created here or brought by the user). */
  readonly devicePolicyName: string;
  /** The created device policy; undefined when `existingDevicePolicyName` was given. */
  readonly devicePolicy: iot.CfnPolicy | undefined;
  /** The web ACL this construct created; undefined with `rateLimit: false` or `webAclArn`. */
  readonly webAcl: wafv2.CfnWebACL | undefined;
  /** The ARN of the web ACL in front of the API (created here or brought by the user); undefined without one. */
  readonly webAclArn: string | undefined;
  /** The CloudWatch alarms and the dashboard operators watch. */
  readonly operations: OperationsAlarms;

  constructor(scope: Construct, id: string, props: CertificateVendingMachineProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    validateProps(props, stack);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;

    this.table = this.createTable(removalPolicy);

    if (props.existingDevicePolicyName !== undefined) {
      this.devicePolicyName = props.existingDevicePolicyName;
      this.devicePolicy = undefined;
    } else {
      this.devicePolicyName = props.devicePolicyName ?? `${stack.stackName}-cvm-device`;
      this.devicePolicy = new iot.CfnPolicy(this, 'DevicePolicy', {
        policyName: this.devicePolicyName,
        policyDocument: devicePolicyDocument({
          partition: Aws.PARTITION,
          region: Aws.REGION,
          accountId: Aws.ACCOUNT_ID,
        }),
      });
      this.devicePolicy.applyRemovalPolicy(removalPolicy);
    }

    const role = this.createResolverRole();
    this.resolverFunction = this.createResolverFunction(props, role, removalPolicy, logRetention, {
      id: 'Resolver',
      description: 'cvm GraphQL resolver',
      ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrency: props.reservedConcurrency }),
    });
    this.issuerFunction = this.createResolverFunction(props, role, removalPolicy, logRetention, {
      id: 'Issuer',
      description: 'cvm GraphQL resolver for requestCertificate and renewCertificate, capped to the AWS IoT quota',
      reservedConcurrency: issuanceConcurrency(props.iotCertificateRate ?? DEFAULT_IOT_CERTIFICATE_RATE),
    });

    this.api = new appsync.GraphqlApi(this, 'Api', {
      name: props.apiName ?? `${stack.stackName}-cvm`,
      definition: appsync.Definition.fromFile(SCHEMA_FILE),
      authorizationConfig: {
        // Admins sign with IAM; devices hold only the API key, which reaches only fields marked @aws_api_key.
        defaultAuthorization: { authorizationType: appsync.AuthorizationType.IAM },
        additionalAuthorizationModes: [
          {
            authorizationType: appsync.AuthorizationType.API_KEY,
            apiKeyConfig: {
              name: props.apiKeyName ?? 'Devices',
              description: 'Devices: enrollment and certificate rotation only',
              expires: props.apiKeyExpiration ?? Expiration.after(Duration.days(365)),
            },
          },
        ],
      },
      xrayEnabled: true,
      queryDepthLimit: APPSYNC_REQUEST_LIMITS.queryDepth,
      resolverCountLimit: APPSYNC_REQUEST_LIMITS.resolverCount,
      introspectionConfig:
        props.introspection === undefined
          ? appsync.IntrospectionConfig[DEFAULT_INTROSPECTION]
          : appsync.IntrospectionConfig[introspectionConfig(props.introspection)],
    });
    const apiKey = this.api.node.children.find((child) => child instanceof appsync.CfnApiKey);
    if (apiKey === undefined) throw new Error('GraphqlApi created no API key for the API_KEY mode');
    this.apiKey = apiKey;

    this.configureRequestLogging(removalPolicy, logRetention);
    this.createResolvers();
    if (props.reconcileEvery !== false) this.scheduleReconciler(props.reconcileEvery ?? Duration.hours(1));

    // WAF evaluates before AppSync authorizes, so the rate limit also covers requests with a wrong or no key.
    const rateLimit = props.rateLimit ?? DEFAULT_RATE_LIMIT;
    if (props.webAclArn !== undefined) {
      this.webAcl = undefined;
      this.webAclArn = props.webAclArn;
    } else if (rateLimit === false) {
      this.webAcl = undefined;
      this.webAclArn = undefined;
    } else {
      this.webAcl = createRateLimitWebAcl(this, 'WebAcl', { limit: rateLimit, name: `${stack.stackName}-cvm` });
      this.webAclArn = this.webAcl.attrArn;
    }
    if (this.webAclArn !== undefined) {
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.arn,
        webAclArn: this.webAclArn,
      });
    }

    const webAclName = this.webAcl?.name ?? (props.webAclArn === undefined ? undefined : webAclNameOf(props.webAclArn));
    this.operations = new OperationsAlarms(this, 'Operations', {
      resolverFunctions: [this.resolverFunction, this.issuerFunction],
      ...(webAclName === undefined ? {} : { webAclName }),
      ...(props.alarmTopic === undefined ? {} : { alarmTopic: props.alarmTopic }),
    });
  }

  private createTable(removalPolicy: RemovalPolicy): dynamodb.Table {
    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SORT_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy,
    });
    for (const index of [STATUS_INDEX, ROTATION_INDEX]) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }

  private createResolverRole(): iam.Role {
    // An explicit role instead of the AWSLambdaBasicExecutionRole managed policy: logs go to the functions' groups.
    const role = new iam.Role(this, 'ResolverRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'cvm resolver: issue device certificates and keep device records',
    });
    for (const statement of resolverPolicyStatements({
      tableArn: this.table.tableArn,
      indexNames: [STATUS_INDEX.name, ROTATION_INDEX.name],
      devicePolicyName: this.devicePolicyName,
    })) {
      role.addToPolicy(statement);
    }
    acknowledgeResolverWildcards(role);
    return role;
  }

  /** One resolver function: the same bundle, role and settings for each; `fn` says what differs. */
  private createResolverFunction(
    props: CertificateVendingMachineProps,
    role: iam.Role,
    removalPolicy: RemovalPolicy,
    logRetention: logs.RetentionDays,
    fn: { readonly id: string; readonly description: string; readonly reservedConcurrency?: number },
  ): NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${fn.id}Logs`, { retention: logRetention, removalPolicy });
    logGroup.grantWrite(role);

    const environment: Record<string, string> = {
      [LAMBDA_ENV.tableName]: this.table.tableName,
      [LAMBDA_ENV.devicePolicyName]: this.devicePolicyName,
      // Stack traces point into the TypeScript sources instead of the minified bundle.
      NODE_OPTIONS: '--enable-source-maps',
    };
    if (props.thingNamePrefix) environment[LAMBDA_ENV.thingNamePrefix] = props.thingNamePrefix;
    if (props.tokenTtl !== undefined) environment[LAMBDA_ENV.tokenTtlSeconds] = String(props.tokenTtl.toSeconds());
    if (props.rotationWindow !== undefined) {
      environment[LAMBDA_ENV.rotationWindowSeconds] = String(props.rotationWindow.toSeconds());
    }

    const require = createRequire(import.meta.url);
    return new NodejsFunction(this, fn.id, {
      entry: props.resolverEntry ?? DEFAULT_RESOLVER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      // Under AppSync's 30 s resolver limit and well under the core's 60 s issuance lease.
      timeout: Duration.seconds(LAMBDA_TIMEOUT_SECONDS),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment,
      description: fn.description,
      ...(fn.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: fn.reservedConcurrency }),
      // AppSync invokes the alias below: old versions need not be kept once the alias has moved on.
      currentVersionOptions: { removalPolicy: RemovalPolicy.DESTROY },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Error and class names survive minification, so logs and errorTypes stay readable.
        keepNames: true,
        // Bundle the pinned AWS SDK instead of relying on the one that happens to be in the runtime.
        externalModules: [],
        // The ES module builds of the SDK and of @peculiar/* (their `module` entries): esbuild shakes out what the
        // resolver never calls, a third of the bundle, and the runtime has less to load at init.
        mainFields: ['module', 'main'],
        forceDockerBundling: false,
        // @peculiar/x509 needs the Reflect metadata API before it loads; injected files run first.
        inject: [require.resolve('reflect-metadata')],
        // Some bundled CommonJS dependencies call require() for Node built-ins, which ESM does not define.
        banner:
          "import { createRequire as __cvmCreateRequire } from 'node:module'; const require = __cvmCreateRequire(import.meta.url);",
      },
    });
  }

  private configureRequestLogging(removalPolicy: RemovalPolicy, logRetention: logs.RetentionDays): void {
    // Set on the L1 resource: GraphqlApi's own logConfig adds a LogRetention custom resource whose Lambda has a
    // managed policy and a `*` resource. Here the log group is an ordinary resource with its retention.
    const logGroup = new logs.LogGroup(this, 'ApiLogs', {
      logGroupName: `/aws/appsync/apis/${this.api.apiId}`,
      retention: logRetention,
      removalPolicy,
    });
    const role = new iam.Role(this, 'ApiLogsRole', {
      assumedBy: new iam.ServicePrincipal('appsync.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'cvm GraphQL API: write request logs to its own log group',
    });
    // No logs:CreateLogGroup: the group exists, and AppSync cannot race CloudFormation to create it.
    logGroup.grantWrite(role);
    const cfnApi = this.api.node.defaultChild as appsync.CfnGraphQLApi;
    cfnApi.logConfig = {
      cloudWatchLogsRoleArn: role.roleArn,
      fieldLogLevel: appsync.FieldLogLevel.ERROR,
      excludeVerboseContent: true,
    };
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-ASC3',
      reason:
        'The GraphQL API logs requests (field log level ERROR, role and log group above). It excludes verbose ' +
        'content on purpose: verbose logs carry request headers (the API key) and resolver payloads (registration ' +
        'tokens, CSRs), which cvm never logs.',
    });
  }

  /** The scheduled reconciler: the same ResolverEvent AppSync would send for `reconcile`, named for its role. */
  private scheduleReconciler(every: Duration): void {
    const role = new iam.Role(this, 'ReconcilerScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'cvm reconciler schedule: invoke the resolver Lambda',
    });
    // The function itself, not `<function>:*` as grantInvoke would add.
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.resolverFunction.functionArn] }),
    );
    const event: ResolverEvent = {
      parentTypeName: 'Mutation',
      fieldName: 'reconcile',
      arguments: { input: { dryRun: false } },
      identity: { userArn: role.roleArn },
    };
    new scheduler.CfnSchedule(this, 'ReconcilerSchedule', {
      description: 'cvm: remove certificates a crash left unrecorded and finish abandoned claims',
      scheduleExpression: `rate(${every.toMinutes()} minutes)`,
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.resolverFunction.functionArn,
        roleArn: role.roleArn,
        input: Stack.of(this).toJsonString(event),
      },
    });
  }

  private createResolvers(): void {
    const dataSourceRole = new iam.Role(this, 'DataSourceRole', {
      assumedBy: new iam.ServicePrincipal('appsync.amazonaws.com', {
        conditions: { ArnEquals: { 'aws:SourceArn': this.api.arn } },
      }),
      description: 'cvm GraphQL API: invoke the resolver Lambda',
    });
    const dataSource = this.createLambdaDataSource(this.resolverFunction, dataSourceRole, {
      id: 'ResolverDataSource',
      name: 'CvmResolver',
      description: 'The cvm resolver Lambda',
    });
    // A Lambda refusing an invocation over the issuer's reserved concurrency reaches the resolver code as an
    // error of type Lambda:TooManyRequestsException, which it answers as Throttled (resolvers/appsync/invoke.js).
    const issuerDataSource = this.createLambdaDataSource(this.issuerFunction, dataSourceRole, {
      id: 'IssuerDataSource',
      name: 'CvmIssuer',
      description: 'The cvm resolver Lambda for requestCertificate and renewCertificate',
    });
    const code = appsync.Code.fromAsset(RESOLVER_CODE_FILE);
    const schema = loadAppSyncSchema(readFileSync(SCHEMA_FILE, 'utf8'), SCHEMA_FILE);
    for (const { typeName, fieldName } of fieldsNeedingResolvers(schema)) {
      const issues = isAdmittedField(typeName, fieldName);
      (issues ? issuerDataSource : dataSource).createResolver(`${typeName}${capitalize(fieldName)}Resolver`, {
        typeName,
        fieldName,
        runtime: appsync.FunctionRuntime.JS_1_0_0,
        code,
      });
    }
  }

  private createLambdaDataSource(
    fn: NodejsFunction,
    serviceRole: iam.Role,
    names: { readonly id: string; readonly name: string; readonly description: string },
  ): appsync.LambdaDataSource {
    // AppSync invokes an alias (a published version), so the data source may invoke exactly that ARN; granting
    // the function itself would also grant `<function>:*`.
    const alias = fn.addAlias('live');
    return new appsync.LambdaDataSource(this, names.id, {
      api: this.api,
      // CDK's own classes declare optional members without `| undefined`, which exactOptionalPropertyTypes rejects.
      lambdaFunction: alias as lambda.IFunction,
      serviceRole,
      name: names.name,
      description: names.description,
    });
  }
}

function acknowledgeResolverWildcards(role: iam.Role): void {
  const acknowledgements: Record<string, string> = {
    '*':
      'Only iot:CreateCertificateFromCsr, iot:DescribeEndpoint and iot:ListCertificates have Resource "*": the Service Authorization ' +
      'Reference lists no resource type for them, so AWS accepts nothing narrower. Every other statement names ' +
      'its resources.',
    [IOT_CERTIFICATES_ARN]:
      'Certificate ids are made by AWS IoT at issuance, so the resolver manages cert/* of this account and region ' +
      '(UpdateCertificate, DeleteCertificate, DescribeCertificate, Attach/DetachPolicy, Attach/DetachThingPrincipal).',
    [IOT_THINGS_ARN]:
      'Thing names are chosen when a device is registered, so the resolver creates and updates thing/* of this ' +
      'account and region (CreateThing, UpdateThing, Attach/DetachThingPrincipal).',
  };
  const stack = Stack.of(role);
  for (const [resource, reason] of Object.entries(acknowledgements)) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceName(stack, resource)}]`,
      reason,
    });
  }
}

/** How cdk-nag names a resource in an IAM5 finding: pseudo-parameters written as `<AWS::Region>`. */
function nagResourceName(stack: Stack, resource: string): string {
  const resolved: unknown = stack.resolve(resource);
  if (typeof resolved === 'string') return resolved;
  const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) throw new Error(`cannot name ${resource} as cdk-nag does`);
  return join[1].map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`)).join(join[0]);
}

function validateProps(props: CertificateVendingMachineProps, stack: Stack): void {
  if (props.existingDevicePolicyName !== undefined && props.devicePolicyName !== undefined) {
    throw new Error('Give devicePolicyName (a policy cvm creates) or existingDevicePolicyName (yours), not both.');
  }
  for (const name of [props.devicePolicyName, props.existingDevicePolicyName]) {
    if (name !== undefined && !Token.isUnresolved(name) && !IOT_POLICY_NAME_PATTERN.test(name)) {
      throw new Error(`"${name}" is not an AWS IoT policy name (1-128 of letters, digits and _+=,.@-).`);
    }
  }
  const prefix = props.thingNamePrefix;
  if (prefix && !THING_NAME_PATTERN.test(`${prefix}x`)) {
    throw new Error(`thingNamePrefix "${prefix}" must leave room in the thing-name set (letters, digits, :_-).`);
  }
  const ttl = props.tokenTtl?.toSeconds();
  if (ttl !== undefined && (ttl < TOKEN_TTL_BOUNDS.min || ttl > TOKEN_TTL_BOUNDS.max)) {
    throw new Error(`tokenTtl must be ${TOKEN_TTL_BOUNDS.min} s to ${TOKEN_TTL_BOUNDS.max} s, not ${ttl} s.`);
  }
  const window = props.rotationWindow?.toSeconds();
  if (window !== undefined && (window < ROTATION_WINDOW_BOUNDS.min || window > ROTATION_WINDOW_BOUNDS.max)) {
    throw new Error(
      `rotationWindow must be ${ROTATION_WINDOW_BOUNDS.min} s to ${ROTATION_WINDOW_BOUNDS.max} s, not ${window} s.`,
    );
  }
  if (props.webAclArn !== undefined && props.rateLimit !== undefined) {
    throw new Error('Give rateLimit (a web ACL cvm creates, or false for none) or webAclArn (yours), not both.');
  }
  if (props.rateLimit !== undefined && props.rateLimit !== false) validateRateLimit(props.rateLimit);
  if (props.webAclArn !== undefined) validateWebAclArn(props.webAclArn, stack);
  const rate = props.iotCertificateRate;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw new Error(`iotCertificateRate must be a positive number of calls per second, not ${rate}.`);
  }
  const concurrency = props.reservedConcurrency;
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
    throw new Error(
      `reservedConcurrency must be a whole number from 1 (0 would refuse every request), not ${concurrency}.`,
    );
  }
}

function capitalize(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
