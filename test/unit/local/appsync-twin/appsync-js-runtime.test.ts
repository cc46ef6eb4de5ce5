import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESOLVER_CODE_FILE } from '../../../../contract/resolver-code.ts';
import {
  DEFAULT_CODE_ERROR_TYPE,
  LAMBDA_UNHANDLED,
  LambdaServiceError,
  createLambdaResolver,
} from '../../../../local/appsync-twin/appsync-js-runtime.ts';
import type { FieldInvocation } from '../../../../local/appsync-twin/appsync-js-runtime.ts';
import { ResolverFieldError } from '../../../../local/appsync-twin/response.ts';

const FIELD: FieldInvocation = {
  arguments: { serialNumber: 'SN-1' },
  identity: { userArn: 'arn:aws:iam::000000000000:user/admin' },
  source: null,
  parentTypeName: 'Query',
  fieldName: 'device',
  variables: {},
};

function resolverFile(code: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'cvm-appsync-js-')), 'resolver.js');
  writeFileSync(file, code);
  return file;
}

/** The field error a resolution failed with. */
async function fieldError(resolution: Promise<unknown>): Promise<ResolverFieldError> {
  const error = await resolution.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof ResolverFieldError)) throw new Error(`expected a ResolverFieldError, got ${String(error)}`);
  return error;
}

describe('createLambdaResolver with resolvers/appsync/invoke.js', () => {
  it("sends AppSync's Invoke payload (never the request headers) and returns the envelope's data", async () => {
    const payloads: unknown[] = [];
    const resolve = createLambdaResolver({
      codeFile: RESOLVER_CODE_FILE,
      handler: (payload) => {
        payloads.push(payload);
        return Promise.resolve({ data: { serialNumber: 'SN-1' } });
      },
    });

    const outcome = await resolve(FIELD);

    expect(payloads).toEqual([
      { parentTypeName: 'Query', fieldName: 'device', arguments: FIELD.arguments, identity: FIELD.identity },
    ]);
    expect(outcome).toEqual({ value: { serialNumber: 'SN-1' }, appendedErrors: [] });
  });

  it("turns the envelope's error into util.error(message, errorType)", async () => {
    const resolve = createLambdaResolver({
      codeFile: RESOLVER_CODE_FILE,
      handler: () => Promise.resolve({ error: { errorType: 'DeviceNotFound', message: 'No device SN-1.' } }),
    });

    const error = await fieldError(resolve(FIELD));

    expect(error).toMatchObject({ errorType: 'DeviceNotFound', message: 'No device SN-1.', errorInfo: null });
  });

  const lambdaFailures: [string, () => Promise<unknown>, number | undefined, string, string][] = [
    [
      'throws (Lambda:Unhandled)',
      () => Promise.reject(new Error('boom: internals')),
      undefined,
      'InternalError',
      LAMBDA_UNHANDLED,
    ],
    ['runs past its timeout', () => new Promise(() => undefined), 20, 'InternalError', LAMBDA_UNHANDLED],
    [
      'is throttled by the Lambda service',
      () => Promise.reject(new LambdaServiceError('Lambda:TooManyRequestsException', 'Rate Exceeded.')),
      undefined,
      'Throttled',
      'Lambda:TooManyRequestsException',
    ],
  ];

  it.each(lambdaFailures)(
    "answers a Lambda that %s with a retryable cvm type and AppSync's type in errorInfo",
    async (_case, handler, timeoutMs, errorType, cause) => {
      const failures: unknown[] = [];
      const resolve = createLambdaResolver({
        codeFile: RESOLVER_CODE_FILE,
        handler,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        onLambdaFailure: (error) => failures.push(error),
      });

      const error = await fieldError(resolve(FIELD));

      expect(error).toMatchObject({ errorType, errorInfo: { cause } });
      expect(error.message).not.toContain('internals');
      expect(failures).toHaveLength(1);
    },
  );

  it('answers InternalError when the Lambda returns nothing', async () => {
    const resolve = createLambdaResolver({ codeFile: RESOLVER_CODE_FILE, handler: () => Promise.resolve(null) });

    expect(await fieldError(resolve(FIELD))).toMatchObject({ errorType: 'InternalError' });
  });
});

describe('the APPSYNC_JS runtime', () => {
  it('keeps the value and records util.appendError with its data and errorInfo', async () => {
    const codeFile = resolverFile(`
      import { util } from '@aws-appsync/utils';
      export function request(ctx) { return { operation: 'Invoke', payload: ctx.args }; }
      export function response(ctx) {
        util.appendError('partly done', 'Partial', { done: 1 }, { retry: true });
        return ctx.result;
      }
    `);
    const resolve = createLambdaResolver({ codeFile, handler: () => Promise.resolve('value') });

    expect(await resolve(FIELD)).toEqual({
      value: 'value',
      appendedErrors: [{ message: 'partly done', errorType: 'Partial', data: { done: 1 }, errorInfo: { retry: true } }],
    });
  });

  it("answers util.unauthorized() with AppSync's Unauthorized for the field, before invoking", async () => {
    const codeFile = resolverFile(`
      import { util } from '@aws-appsync/utils';
      export function request() { util.unauthorized(); }
      export function response(ctx) { return ctx.result; }
    `);
    let invoked = false;
    const resolve = createLambdaResolver({
      codeFile,
      handler: () => {
        invoked = true;
        return Promise.resolve(null);
      },
    });

    expect(await fieldError(resolve(FIELD))).toMatchObject({
      errorType: 'Unauthorized',
      message: 'Not Authorized to access device on type Query',
    });
    expect(invoked).toBe(false);
  });

  it('gives util.error without an errorType the default type', async () => {
    const codeFile = resolverFile(`
      import { util } from '@aws-appsync/utils';
      export function request() { return util.error('no type given'); }
      export function response(ctx) { return ctx.result; }
    `);
    const resolve = createLambdaResolver({ codeFile, handler: () => Promise.resolve(null) });

    expect(await fieldError(resolve(FIELD))).toMatchObject({
      errorType: DEFAULT_CODE_ERROR_TYPE,
      message: 'no type given',
    });
  });

  it('runs the code without Node: no process, no timers, no Buffer', async () => {
    const codeFile = resolverFile(`
      export function request() {
        return { operation: 'Invoke', payload: [typeof process, typeof setTimeout, typeof Buffer] };
      }
      export function response(ctx) { return ctx.result; }
    `);
    const resolve = createLambdaResolver({ codeFile, handler: (payload) => Promise.resolve(payload) });

    expect((await resolve(FIELD)).value).toEqual(['undefined', 'undefined', 'undefined']);
  });

  it('refuses a util function it does not provide, naming it', async () => {
    const codeFile = resolverFile(`
      import { util } from '@aws-appsync/utils';
      export function request() { return { operation: 'Invoke', payload: util.autoId() }; }
      export function response(ctx) { return ctx.result; }
    `);
    const resolve = createLambdaResolver({ codeFile, handler: () => Promise.resolve(null) });

    const error = await fieldError(resolve(FIELD));

    expect(error.errorType).toBe('InternalFailure');
    expect(String((error.cause as Error).message)).toMatch(/util\.autoId is not provided/);
  });

  it('refuses to load a module that imports something APPSYNC_JS does not have', () => {
    const codeFile = resolverFile(`
      import { readFileSync } from 'node:fs';
      export function request() { return readFileSync; }
      export function response() { return null; }
    `);

    expect(() => createLambdaResolver({ codeFile, handler: () => Promise.resolve(null) })).toThrow(/imports node:fs/);
  });

  it('refuses a request handler that is not an Invoke', async () => {
    const codeFile = resolverFile(`
      export function request() { return { operation: 'BatchInvoke', payload: {} }; }
      export function response(ctx) { return ctx.result; }
    `);
    const resolve = createLambdaResolver({ codeFile, handler: () => Promise.resolve(null) });

    expect(await fieldError(resolve(FIELD))).toMatchObject({ errorType: 'InternalFailure' });
  });
});
