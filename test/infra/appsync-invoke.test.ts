/**
 * The APPSYNC_JS resolver code runs only inside AppSync, where `@aws-appsync/utils` exists. Here it is
 * evaluated as an ES module whose `util` import is swapped for a fake that throws like AppSync's
 * `util.error` does, so the mapping logic is tested as written.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResolverEvent } from '../../contract/lambda-envelope.ts';
import { REPO_ROOT } from './cdk-support.ts';

const APPSYNC_UTILS_IMPORT = "import { util } from '@aws-appsync/utils';";

/** Mirrors AppSync: util.error stops the resolver with an error that carries message and errorType. */
const FAKE_APPSYNC_UTILS = `
export const util = {
  error(message, errorType, data, errorInfo) {
    const error = new Error(message);
    error.name = 'AppSyncUtilError';
    error.errorType = errorType;
    if (errorInfo !== undefined) error.errorInfo = errorInfo;
    throw error;
  },
};`;

interface AppSyncContext {
  readonly info?: { readonly parentTypeName: string; readonly fieldName: string };
  readonly arguments?: Record<string, unknown>;
  readonly identity?: unknown;
  readonly request?: { readonly headers: Record<string, string> };
  readonly result?: unknown;
  readonly error?: { readonly message: string; readonly type: string };
}

interface InvokeResolver {
  request(ctx: AppSyncContext): { operation: string; payload: ResolverEvent };
  response(ctx: AppSyncContext): unknown;
}

let resolver: InvokeResolver;

beforeAll(async () => {
  const source = readFileSync(path.join(REPO_ROOT, 'resolvers', 'appsync', 'invoke.js'), 'utf8');
  expect(source).toContain(APPSYNC_UTILS_IMPORT);
  const fakeUtils = `data:text/javascript,${encodeURIComponent(FAKE_APPSYNC_UTILS)}`;
  const testable = source.replace(APPSYNC_UTILS_IMPORT, `import { util } from ${JSON.stringify(fakeUtils)};`);
  resolver = (await import(
    /* @vite-ignore */ `data:text/javascript,${encodeURIComponent(testable)}`
  )) as InvokeResolver;
});

function thrownBy(action: () => unknown): { message: string; errorType: unknown; errorInfo?: unknown } {
  try {
    action();
  } catch (error) {
    const { message, errorType, errorInfo } = error as Error & { errorType: unknown; errorInfo?: unknown };
    return errorInfo === undefined ? { message, errorType } : { message, errorType, errorInfo };
  }
  throw new Error('expected util.error to be called');
}

describe('resolvers/appsync/invoke.js', () => {
  describe('request', () => {
    it('invokes the Lambda with the field, its arguments and the caller identity', () => {
      const identity = { userArn: 'arn:aws:iam::123456789012:user/admin', accountId: '123456789012' };
      const invocation = resolver.request({
        info: { parentTypeName: 'Mutation', fieldName: 'revokeCertificate' },
        arguments: { serialNumber: 'SN-1', reason: 'lost' },
        identity,
        request: { headers: { 'x-api-key': 'da2-secret' } },
      });

      expect(invocation).toEqual({
        operation: 'Invoke',
        payload: {
          parentTypeName: 'Mutation',
          fieldName: 'revokeCertificate',
          arguments: { serialNumber: 'SN-1', reason: 'lost' },
          identity,
        },
      });
    });

    it('never forwards the request headers, which carry the API key', () => {
      const invocation = resolver.request({
        info: { parentTypeName: 'Mutation', fieldName: 'requestCertificate' },
        arguments: {},
        identity: null,
        request: { headers: { 'x-api-key': 'da2-secret' } },
      });

      expect(JSON.stringify(invocation)).not.toContain('da2-secret');
    });
  });

  describe('response', () => {
    it('returns the data of a successful envelope', () => {
      const data = { serialNumber: 'SN-1', status: 'ACTIVE' };
      expect(resolver.response({ result: { data } })).toEqual(data);
    });

    it('returns null data as null (a device that does not exist)', () => {
      expect(resolver.response({ result: { data: null } })).toBeNull();
    });

    it.each([
      { errorType: 'InvalidRegistrationToken', message: 'The registration token is not valid.' },
      { errorType: 'Throttled', message: 'AWS IoT is busy; retry later.' },
      { errorType: 'DeviceNotFound', message: 'No device SN-9.' },
    ])('turns an envelope error $errorType into util.error with that errorType', ({ errorType, message }) => {
      expect(thrownBy(() => resolver.response({ result: { error: { errorType, message } } }))).toEqual({
        message,
        errorType,
      });
    });

    it.each([
      ['a Lambda failure or timeout', 'Lambda:Unhandled', 'InternalError'],
      ['a throttled invocation', 'Lambda:TooManyRequestsException', 'Throttled'],
    ])(
      "maps AppSync's own invocation error (%s) to cvm's type, keeping AppSync's in errorInfo",
      (_case, type, errorType) => {
        const error = { message: 'Task timed out after 25.00 seconds at /var/task/index.mjs', type };
        const thrown = thrownBy(() => resolver.response({ error, result: null }));
        expect(thrown).toMatchObject({ errorType, errorInfo: { cause: type } });
        expect(thrown.message).not.toContain('/var/task');
      },
    );

    it('answers InternalError when the Lambda returned nothing', () => {
      expect(thrownBy(() => resolver.response({ result: null }))).toEqual({
        message: 'The resolver returned no result',
        errorType: 'InternalError',
      });
    });
  });
});
