/**
 * The Lambda composition root: AppSync's APPSYNC_JS resolver (resolvers/appsync/invoke.js) invokes this
 * with a ResolverEvent and maps the returned envelope to a field value or `util.error`. This file (and the
 * local stack's) is the only place that reads the environment.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { IoTClient } from '@aws-sdk/client-iot';
import type { Context } from 'aws-lambda';
import { DynamoDbSecretStore } from './adapters/store/dynamodb-secret-store.ts';
import { DYNAMODB_CLIENT_DEFAULTS } from './adapters/store/item-calls.ts';
import { DynamoDbDeviceStore } from './adapters/store/dynamodb-store.ts';
import { AwsIotAuthority, createIotClient } from './adapters/authority/aws-iot/iot-authority.ts';
import { PowertoolsTelemetry } from './adapters/telemetry/powertools-telemetry.ts';
import {
  DEFAULT_SETTINGS,
  ROTATION_WINDOW_BOUNDS,
  TOKEN_TTL_BOUNDS,
  type CoreContext,
  type CoreSettings,
} from './core/context.ts';
import { systemClock, systemRandom } from './adapters/system.ts';
import { LAMBDA_ENV } from '../contract/lambda-environment.ts';
import type { ResolverEnvelope, ResolverEvent } from '../contract/lambda-envelope.ts';
import { createFieldResolver } from './resolve-field.ts';

/**
 * The AWS clients the handler talks through. In Lambda they are made from the environment; the benchmark passes
 * clients aimed at dynalite and at a simulation of AWS IoT, to measure this very composition.
 */
export interface LambdaClients {
  readonly dynamodb?: DynamoDBClient;
  readonly iot?: IoTClient;
  /** For CreateCertificateFromCsr only; see AwsIotAuthorityOptions. */
  readonly iotCreateCertificate?: IoTClient;
}

/** Build the handler from an environment; exported so the wiring itself is tested. */
export function createLambdaHandler(env: Readonly<Record<string, string | undefined>>, clients: LambdaClients = {}) {
  const tableName = required(env, LAMBDA_ENV.tableName);
  const policyName = required(env, LAMBDA_ENV.devicePolicyName);
  const settings: CoreSettings = {
    ...DEFAULT_SETTINGS,
    thingNamePrefix: env[LAMBDA_ENV.thingNamePrefix] ?? '',
    tokenTtlSeconds: secondsSetting(
      env,
      LAMBDA_ENV.tokenTtlSeconds,
      DEFAULT_SETTINGS.tokenTtlSeconds,
      TOKEN_TTL_BOUNDS,
    ),
    rotationWindowSeconds: secondsSetting(
      env,
      LAMBDA_ENV.rotationWindowSeconds,
      DEFAULT_SETTINGS.rotationWindowSeconds,
      ROTATION_WINDOW_BOUNDS,
    ),
  };
  // Timeouts keep one hung connection from using up the invocation; the core's own deadlines do the rest.
  const dynamodb =
    clients.dynamodb ??
    new DynamoDBClient({
      ...DYNAMODB_CLIENT_DEFAULTS,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
    });
  const store = new DynamoDbDeviceStore({ client: dynamodb, tableName });
  const telemetry = new PowertoolsTelemetry();
  const authority = new AwsIotAuthority({
    client: clients.iot ?? createIotClient(),
    createCertificateClient: clients.iotCreateCertificate ?? createIotClient({ maxAttempts: 1 }),
    policyName,
  });
  // Start fetching the IoT endpoint now, while the container starts, not on a device's first request: the
  // authority caches it (and forgets a failure, so the first request that needs it asks again).
  authority.connectionInfo().catch(() => undefined);
  const ctx: CoreContext = {
    store,
    secrets: new DynamoDbSecretStore({ client: dynamodb, tableName }),
    authority,
    clock: systemClock,
    random: systemRandom,
    telemetry,
    settings,
  };
  const resolve = createFieldResolver(ctx);

  return async (event: ResolverEvent, context?: Context): Promise<ResolverEnvelope> => {
    if (context) telemetry.addLambdaContext(context);
    const remainingMs = context?.getRemainingTimeInMillis();
    const budget = remainingMs === undefined ? settings : budgetWithin(settings, remainingMs);
    try {
      return await (budget === settings ? resolve : createFieldResolver({ ...ctx, settings: budget }))(event);
    } finally {
      telemetry.flush();
    }
  };
}

/** Time kept back at the end of an invocation to answer (and flush logs and metrics). */
const ANSWER_RESERVE_MS = 2_000;

/**
 * The settings for an invocation with `remainingMs` left: the request budget shrinks so that issuing,
 * compensating and answering all fit before Lambda stops the function (a timeout mid-way would leave the
 * cleanup to the lease). Unchanged when the whole budget fits, which is the case with the construct's timeout.
 */
export function budgetWithin(settings: CoreSettings, remainingMs: number): CoreSettings {
  const available = remainingMs - settings.compensationBudgetMs - ANSWER_RESERVE_MS;
  if (available >= settings.requestBudgetMs) return settings;
  return { ...settings, requestBudgetMs: Math.max(0, available) };
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`The environment variable ${name} must be set (the CDK construct sets it).`);
  return value;
}

function secondsSetting(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
  bounds: { readonly min: number; readonly max: number },
): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const seconds = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < bounds.min || seconds > bounds.max) {
    throw new Error(`${name} must be a whole number of seconds from ${bounds.min} to ${bounds.max}.`);
  }
  return seconds;
}

/**
 * Built during module init when the environment is there (in Lambda it always is), so that its start-up work
 * (the IoT endpoint) overlaps the container's init; otherwise on the first invocation. Reused while the container
 * lives.
 */
let handlerInstance: ReturnType<typeof createLambdaHandler> | undefined = process.env[LAMBDA_ENV.tableName]
  ? createLambdaHandler(process.env)
  : undefined;

/** The Lambda entry point. */
export const handler = (event: ResolverEvent, context?: Context): Promise<ResolverEnvelope> => {
  handlerInstance ??= createLambdaHandler(process.env);
  return handlerInstance(event, context);
};
