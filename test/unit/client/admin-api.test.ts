import { describe, expect, it } from 'vitest';
import { createAdminApi, MAX_REGISTER_BATCH } from '../../../client/admin-api.ts';
import type { GraphqlClient, GraphqlVariables } from '../../../client/graphql-client.ts';
import { pendingDevice } from '../../support/device-fixture.ts';

interface Call {
  readonly query: string;
  readonly variables: GraphqlVariables | undefined;
}

/** A client that answers each call with the next scripted `data` and records what it was sent. */
function recordingClient(answers: readonly unknown[]): { client: GraphqlClient; calls: Call[] } {
  const calls: Call[] = [];
  const client: GraphqlClient = {
    request<T>(query: string, variables?: GraphqlVariables): Promise<T> {
      calls.push({ query, variables });
      if (calls.length > answers.length) return Promise.reject(new Error('no scripted answer left'));
      return Promise.resolve(answers[calls.length - 1] as T);
    },
  };
  return { client, calls };
}

function wireDevice(serialNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...pendingDevice(serialNumber), ...overrides };
}

function wireRegistration(serialNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    registrationToken: `token-${serialNumber}`,
    tokenExpiresAt: '2026-12-06T12:00:00.000Z',
    device: wireDevice(serialNumber, overrides),
  };
}

describe('createAdminApi', () => {
  it('registerDevice sends attributes as a JSON string and parses them back', async () => {
    const { client, calls } = recordingClient([
      { registerDevice: wireRegistration('SN-1', { attributes: '{"model":"X1"}' }) },
    ]);

    const registration = await createAdminApi(client).registerDevice({
      serialNumber: 'SN-1',
      attributes: { model: 'X1' },
      tokenTtlSeconds: 600,
    });

    expect(calls[0]?.query).toContain('registerDevice(input: $input)');
    expect(calls[0]?.variables).toEqual({
      input: { serialNumber: 'SN-1', attributes: '{"model":"X1"}', tokenTtlSeconds: 600 },
    });
    expect(registration.registrationToken).toBe('token-SN-1');
    expect(registration.device.attributes).toEqual({ model: 'X1' });
  });

  it('registerDevices sends the whole batch in one call', async () => {
    const { client, calls } = recordingClient([
      { registerDevices: [wireRegistration('SN-1'), wireRegistration('SN-2')] },
    ]);

    const registrations = await createAdminApi(client).registerDevices([
      { serialNumber: 'SN-1', thingName: 'thing-1' },
      { serialNumber: 'SN-2' },
    ]);

    expect(calls).toHaveLength(1);
    expect(calls[0]?.variables).toEqual({
      input: [{ serialNumber: 'SN-1', thingName: 'thing-1' }, { serialNumber: 'SN-2' }],
    });
    expect(registrations.map((registration) => registration.device.serialNumber)).toEqual(['SN-1', 'SN-2']);
  });

  it('registerDevices refuses more than 100 devices without calling the API', async () => {
    const { client, calls } = recordingClient([]);
    const inputs = Array.from({ length: MAX_REGISTER_BATCH + 1 }, (_, index) => ({ serialNumber: `SN-${index}` }));

    await expect(createAdminApi(client).registerDevices(inputs)).rejects.toThrow(RangeError);
    expect(calls).toHaveLength(0);
  });

  it('getDevice returns null for an unknown serial', async () => {
    const { client, calls } = recordingClient([{ device: null }]);

    expect(await createAdminApi(client).getDevice('SN-404')).toBeNull();
    expect(calls[0]?.variables).toEqual({ serialNumber: 'SN-404' });
  });

  it('allDevices follows nextToken across pages and passes the status filter', async () => {
    const { client, calls } = recordingClient([
      { devices: { items: [wireDevice('SN-1'), wireDevice('SN-2')], nextToken: 'page-2' } },
      { devices: { items: [wireDevice('SN-3')], nextToken: null } },
    ]);

    const serials: string[] = [];
    for await (const device of createAdminApi(client).allDevices({ status: 'PENDING', pageSize: 2 })) {
      serials.push(device.serialNumber);
    }

    expect(serials).toEqual(['SN-1', 'SN-2', 'SN-3']);
    expect(calls.map((call) => call.variables)).toEqual([
      { status: 'PENDING', limit: 2, nextToken: undefined },
      { status: 'PENDING', limit: 2, nextToken: 'page-2' },
    ]);
  });

  it('allDevices asks for the devices with a rotation pending, every page', async () => {
    const rotating = { status: 'ACTIVE', pendingCertificateId: 'b'.repeat(64), confirmBy: '2026-12-09T12:00:00.000Z' };
    const { client, calls } = recordingClient([
      { devices: { items: [wireDevice('SN-1', rotating)], nextToken: 'page-2' } },
      { devices: { items: [wireDevice('SN-2', rotating)], nextToken: null } },
    ]);

    const devices = [];
    for await (const device of createAdminApi(client).allDevices({ rotationPending: true })) devices.push(device);

    expect(devices.map((device) => [device.serialNumber, device.confirmBy])).toEqual([
      ['SN-1', '2026-12-09T12:00:00.000Z'],
      ['SN-2', '2026-12-09T12:00:00.000Z'],
    ]);
    expect(calls[0]?.query).toContain('rotationPending: $rotationPending');
    expect(calls.map((call) => call.variables)).toStrictEqual([
      { status: undefined, rotationPending: true, limit: 100, nextToken: undefined },
      { status: undefined, rotationPending: true, limit: 100, nextToken: 'page-2' },
    ]);
  });

  it('pinPublicKey sends the PEM key, or null to remove the pin', async () => {
    const { client, calls } = recordingClient([
      { pinPublicKey: wireDevice('SN-1', { publicKeyPin: 'c'.repeat(64) }) },
      { pinPublicKey: wireDevice('SN-1') },
    ]);
    const api = createAdminApi(client);
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';

    const pinned = await api.pinPublicKey('SN-1', pem);
    const cleared = await api.pinPublicKey('SN-1', null);

    expect([pinned.publicKeyPin, cleared.publicKeyPin]).toEqual(['c'.repeat(64), null]);
    expect(calls[0]?.query).toContain('pinPublicKey(serialNumber: $serialNumber, publicKey: $publicKey)');
    // null, not absent: the server tells "remove the pin" from a forgotten argument only by an explicit null.
    expect(calls.map((call) => call.variables)).toStrictEqual([
      { serialNumber: 'SN-1', publicKey: pem },
      { serialNumber: 'SN-1', publicKey: null },
    ]);
  });

  it('deviceEvents parses event details from AWSJSON', async () => {
    const { client } = recordingClient([
      {
        deviceEvents: {
          items: [
            {
              serialNumber: 'SN-1',
              type: 'ISSUED',
              at: '2026-11-29T12:00:00.000Z',
              actor: 'device',
              details: '{"a":1}',
            },
            { serialNumber: 'SN-1', type: 'REGISTERED', at: '2026-11-29T11:00:00.000Z', actor: 'arn', details: null },
          ],
          nextToken: null,
        },
      },
    ]);

    const page = await createAdminApi(client).deviceEvents('SN-1', { limit: 10 });

    expect(page.items.map((event) => event.details)).toEqual([{ a: 1 }, null]);
    expect(page.nextToken).toBeNull();
  });

  it('revokeCertificate and resetDevice send their arguments', async () => {
    const { client, calls } = recordingClient([
      { revokeCertificate: wireDevice('SN-1', { status: 'REVOKED', revocationReason: 'stolen' }) },
      { resetDevice: wireRegistration('SN-1') },
    ]);
    const api = createAdminApi(client);

    const revoked = await api.revokeCertificate('SN-1', 'stolen');
    const reset = await api.resetDevice('SN-1', { tokenTtlSeconds: 3600 });

    expect(revoked.status).toBe('REVOKED');
    expect(reset.registrationToken).toBe('token-SN-1');
    expect(calls.map((call) => call.variables)).toEqual([
      { serialNumber: 'SN-1', reason: 'stolen' },
      { serialNumber: 'SN-1', tokenTtlSeconds: 3600 },
    ]);
  });
});
