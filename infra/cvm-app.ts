/**
 * The cvm CDK app: one CvmStack configured from CDK context (`cdk deploy -c thingNamePrefix=acme-`), with the
 * AWS Solutions cdk-nag checks on every synth. Tests build the same app through `createCvmApp`.
 */
import { App, Duration, Expiration, RemovalPolicy, Tags, Validations, type AppProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { CertificateVendingMachineProps } from './certificate-vending-machine.ts';
import { CvmStack } from './cvm-stack.ts';

/** The context keys the app reads, each optional. */
export const CVM_CONTEXT = {
  stackName: 'stackName',
  devicePolicyName: 'devicePolicyName',
  existingDevicePolicyName: 'existingDevicePolicyName',
  thingNamePrefix: 'thingNamePrefix',
  apiKeyName: 'apiKeyName',
  apiKeyExpiryDays: 'apiKeyExpiryDays',
  tokenTtlSeconds: 'tokenTtlSeconds',
  logRetentionDays: 'logRetentionDays',
  removalPolicy: 'removalPolicy',
  rateLimit: 'rateLimit',
  webAclArn: 'webAclArn',
  reservedConcurrency: 'reservedConcurrency',
  iotCertificateRate: 'iotCertificateRate',
} as const;

export const DEFAULT_STACK_NAME = 'Cvm';

export interface CvmApp {
  readonly app: App;
  readonly stack: CvmStack;
}

export function createCvmApp(appProps: AppProps = {}, env: NodeJS.ProcessEnv = process.env): CvmApp {
  const app = new App(appProps);
  const context = new ContextReader(app);

  const cvm: Mutable<CertificateVendingMachineProps> = {};
  const devicePolicyName = context.string(CVM_CONTEXT.devicePolicyName);
  if (devicePolicyName !== undefined) cvm.devicePolicyName = devicePolicyName;
  const existingDevicePolicyName = context.string(CVM_CONTEXT.existingDevicePolicyName);
  if (existingDevicePolicyName !== undefined) cvm.existingDevicePolicyName = existingDevicePolicyName;
  const thingNamePrefix = context.string(CVM_CONTEXT.thingNamePrefix);
  if (thingNamePrefix !== undefined) cvm.thingNamePrefix = thingNamePrefix;
  const apiKeyName = context.string(CVM_CONTEXT.apiKeyName);
  if (apiKeyName !== undefined) cvm.apiKeyName = apiKeyName;
  const apiKeyExpiryDays = context.integer(CVM_CONTEXT.apiKeyExpiryDays);
  if (apiKeyExpiryDays !== undefined) cvm.apiKeyExpiration = Expiration.after(Duration.days(apiKeyExpiryDays));
  const tokenTtlSeconds = context.integer(CVM_CONTEXT.tokenTtlSeconds);
  if (tokenTtlSeconds !== undefined) cvm.tokenTtl = Duration.seconds(tokenTtlSeconds);
  const logRetentionDays = context.integer(CVM_CONTEXT.logRetentionDays);
  if (logRetentionDays !== undefined) cvm.logRetention = toRetentionDays(logRetentionDays);
  const removalPolicy = context.string(CVM_CONTEXT.removalPolicy);
  if (removalPolicy !== undefined) cvm.removalPolicy = toRemovalPolicy(removalPolicy);
  const rateLimit = context.integerOrFalse(CVM_CONTEXT.rateLimit);
  if (rateLimit !== undefined) cvm.rateLimit = rateLimit;
  const webAclArn = context.string(CVM_CONTEXT.webAclArn);
  if (webAclArn !== undefined) cvm.webAclArn = webAclArn;
  const reservedConcurrency = context.integer(CVM_CONTEXT.reservedConcurrency);
  if (reservedConcurrency !== undefined) cvm.reservedConcurrency = reservedConcurrency;
  const iotCertificateRate = context.integer(CVM_CONTEXT.iotCertificateRate);
  if (iotCertificateRate !== undefined) cvm.iotCertificateRate = iotCertificateRate;

  // Bound to an account and region only when the CLI knows them; otherwise the template is environment-agnostic.
  const account = env['CDK_DEFAULT_ACCOUNT'];
  const region = env['CDK_DEFAULT_REGION'];
  const stack = new CvmStack(app, context.string(CVM_CONTEXT.stackName) ?? DEFAULT_STACK_NAME, {
    description: 'cvm: Certificate Vending Machine for AWS IoT',
    ...(account !== undefined && region !== undefined ? { env: { account, region } } : {}),
    cvm,
  });
  Tags.of(app).add('app', 'cvm');

  // Any unacknowledged finding fails the synth; acknowledgements sit next to what they acknowledge.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

class ContextReader {
  constructor(private readonly app: App) {}

  string(key: string): string | undefined {
    const value: unknown = this.app.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`Context "${key}" must be a string, not ${JSON.stringify(value)}.`);
    return value;
  }

  /** Numbers come as strings from `-c key=value` and as numbers from cdk.json. */
  integer(key: string, expected = 'a whole number'): number | undefined {
    const value: unknown = this.app.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    const number =
      typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isInteger(number))
      throw new Error(`Context "${key}" must be ${expected}, not ${JSON.stringify(value)}.`);
    return number;
  }

  /** A whole number, or false to switch the feature off (`-c key=false` gives the string "false"). */
  integerOrFalse(key: string): number | false | undefined {
    const value: unknown = this.app.node.tryGetContext(key);
    if (value === false || (typeof value === 'string' && value.trim().toLowerCase() === 'false')) return false;
    return this.integer(key, 'a whole number or false');
  }
}

function toRetentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays).filter((value): value is RetentionDays => typeof value === 'number');
  const match = allowed.find((value) => Number(value) === days);
  if (match === undefined) {
    throw new Error(`logRetentionDays must be one of CloudWatch Logs' values (${allowed.join(', ')}), not ${days}.`);
  }
  return match;
}

function toRemovalPolicy(value: string): RemovalPolicy {
  switch (value.toLowerCase()) {
    case 'retain':
      return RemovalPolicy.RETAIN;
    case 'destroy':
      return RemovalPolicy.DESTROY;
    default:
      throw new Error(`removalPolicy must be "retain" or "destroy", not "${value}".`);
  }
}
