import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from '../../../../../resolvers/adapters/telemetry/redact-secrets.ts';

describe('redactSecrets', () => {
  it.each([
    'registrationToken',
    'token',
    'nextToken',
    'csr',
    'csrPem',
    'privateKey',
    'private_key',
    'certificatePem',
    'clientSecret',
    'password',
  ])('redacts a field named %s', (name) => {
    expect(redactSecrets({ [name]: 'value' })).toEqual({ [name]: REDACTED });
  });

  it.each(['serialNumber', 'thingName', 'certificateId', 'certificateArn', 'publicKeyFingerprint', 'errorType'])(
    'keeps a field named %s',
    (name) => {
      expect(redactSecrets({ [name]: 'value' })).toEqual({ [name]: 'value' });
    },
  );

  it('redacts inside nested objects and arrays without touching the input', () => {
    const fields = { devices: [{ serialNumber: 'a', token: 'secret' }], outer: { inner: { csr: 'pem' } } };

    expect(redactSecrets(fields)).toEqual({
      devices: [{ serialNumber: 'a', token: REDACTED }],
      outer: { inner: { csr: REDACTED } },
    });
    expect(fields.devices[0]?.token).toBe('secret');
  });

  it('keeps an Error as an Error so that its message and stack can be logged', () => {
    const error = new Error('boom');

    expect(redactSecrets({ error }).error).toBe(error);
  });

  it('terminates on a cyclic object', () => {
    const cyclic: Record<string, unknown> = { token: 'secret' };
    cyclic.self = cyclic;

    expect(redactSecrets(cyclic)).toMatchObject({ token: REDACTED, self: { token: REDACTED } });
  });
});
