/**
 * One entry for every GraphQL field backed by cvm: AppSync's Lambda data source and the local twin both
 * hand a ResolverEvent here and get a ResolverEnvelope back. Expected failures become `{ error }`, so that
 * a client's mistake is an answer, not a Lambda failure.
 */
import type { Caller } from './core/ports.ts';
import { describeError } from './core/audit.ts';
import type { CoreContext } from './core/context.ts';
import { CvmError, ThrottledError, isCvmError } from './core/errors.ts';
import { getDevice, listDeviceEvents, listDevices } from './core/query-devices.ts';
import { reconcile } from './core/reconcile.ts';
import { registerDevice, registerDevices } from './core/register-devices.ts';
import { requestCertificate } from './core/request-certificate.ts';
import { resetDevice, revokeCertificate } from './core/revoke-and-reset.ts';
import { pinPublicKey } from './core/pin-public-key.ts';
import { confirmCertificate } from './core/rotation/confirm-certificate.ts';
import { renewCertificate } from './core/rotation/renew-certificate.ts';
import type { ResolverEnvelope, ResolverEvent, ResolverIdentity } from '../contract/lambda-envelope.ts';

type Arguments = Readonly<Record<string, unknown>>;
type FieldResolver = (ctx: CoreContext, args: Arguments, caller: Caller) => Promise<unknown>;

interface FieldDefinition {
  /** Who may call it. AppSync enforces this too; the resolver checks again so a misconfiguration fails closed. */
  readonly callers: 'device' | 'admin';
  readonly resolve: FieldResolver;
}

/** Keyed by `Type.field`; the schema test checks that this covers every Query and Mutation field. */
export const FIELDS: Readonly<Record<string, FieldDefinition>> = {
  'Mutation.requestCertificate': {
    callers: 'device',
    resolve: (ctx, args) => requestCertificate(ctx, objectArgument(args.input)),
  },
  'Mutation.renewCertificate': {
    callers: 'device',
    resolve: (ctx, args) => renewCertificate(ctx, objectArgument(args.input)),
  },
  'Mutation.confirmCertificate': {
    callers: 'device',
    resolve: (ctx, args) => confirmCertificate(ctx, objectArgument(args.input)),
  },
  'Mutation.registerDevice': {
    callers: 'admin',
    resolve: (ctx, args, caller) => registerDevice(ctx, objectArgument(args.input), caller),
  },
  'Mutation.registerDevices': {
    callers: 'admin',
    resolve: (ctx, args, caller) => registerDevices(ctx, args.input, caller),
  },
  'Mutation.revokeCertificate': {
    callers: 'admin',
    resolve: (ctx, args, caller) => revokeCertificate(ctx, args, caller),
  },
  'Mutation.resetDevice': { callers: 'admin', resolve: (ctx, args, caller) => resetDevice(ctx, args, caller) },
  'Mutation.reconcile': {
    callers: 'admin',
    resolve: (ctx, args, caller) =>
      reconcile(ctx, args.input === undefined || args.input === null ? {} : objectArgument(args.input), caller),
  },
  'Mutation.pinPublicKey': { callers: 'admin', resolve: (ctx, args, caller) => pinPublicKey(ctx, args, caller) },
  'Query.device': { callers: 'admin', resolve: (ctx, args) => getDevice(ctx, args.serialNumber) },
  'Query.devices': { callers: 'admin', resolve: (ctx, args) => listDevices(ctx, args) },
  'Query.deviceEvents': { callers: 'admin', resolve: (ctx, args) => listDeviceEvents(ctx, args) },
};

export function createFieldResolver(ctx: CoreContext): (event: ResolverEvent) => Promise<ResolverEnvelope> {
  return async (event) => {
    const field = `${event.parentTypeName}.${event.fieldName}`;
    const started = ctx.clock.now().getTime();
    try {
      const definition = FIELDS[field];
      if (definition === undefined) throw new CvmError('InternalError', `The field ${field} has no resolver.`);
      const caller = callerOf(event.identity);
      if (definition.callers === 'admin' && caller.kind !== 'admin') {
        throw new CvmError(
          'Unauthorized',
          `Not Authorized to access ${event.fieldName} on type ${event.parentTypeName}`,
        );
      }
      const data = await definition.resolve(ctx, event.arguments ?? {}, caller);
      ctx.telemetry.log('info', 'Request served', { field, durationMs: ctx.clock.now().getTime() - started });
      return { data };
    } catch (error) {
      const answer = toCvmError(error);
      ctx.telemetry.count('RequestFailed', { errorType: answer.errorType });
      ctx.telemetry.log(answer.errorType === 'InternalError' ? 'error' : 'info', 'Request refused', {
        field,
        errorType: answer.errorType,
        durationMs: ctx.clock.now().getTime() - started,
        ...(answer.errorType === 'InternalError' ? { error: describeError(answer.cause ?? error) } : {}),
      });
      return { error: { errorType: answer.errorType, message: answer.message } };
    }
  };
}

function callerOf(identity: ResolverIdentity | null): Caller {
  return identity?.userArn ? { kind: 'admin', arn: identity.userArn } : { kind: 'device' };
}

function objectArgument(value: unknown): Arguments {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CvmError('InvalidInput', 'input must be an object.');
  }
  return value as Arguments;
}

function toCvmError(error: unknown): CvmError {
  if (isCvmError(error)) return error;
  if (error instanceof ThrottledError) {
    return new CvmError('Throttled', 'AWS is throttling requests right now; retry in a few seconds.', { cause: error });
  }
  return new CvmError('InternalError', 'cvm could not complete the request; it is safe to retry.', { cause: error });
}
