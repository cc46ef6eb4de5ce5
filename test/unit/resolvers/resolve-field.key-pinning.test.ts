/**
 * Key pinning through the field dispatch, as AppSync's Lambda data source and the twin call it: the admin pins a
 * key with registerDevice(s) or resetDevice, the Device shows publicKeyPin, and a device with another key gets the
 * KeyMismatch envelope (counted as a refused request). Real core on dynalite and the local CA.
 */
import 'reflect-metadata';
import { createPublicKey, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ResolverEnvelope, ResolverEvent, ResolverIdentity } from '../../../contract/lambda-envelope.ts';
import { createFieldResolver } from '../../../resolvers/resolve-field.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../support/core-harness.ts';
import { makeCsr } from '../../support/csr.ts';

const ADMIN_IDENTITY: ResolverIdentity = { userArn: ADMIN.arn, accountId: '000000000000', username: 'test-admin' };

let h: CoreHarness;
let resolve: (event: ResolverEvent) => Promise<ResolverEnvelope>;

beforeAll(async () => {
  h = await startCoreHarness();
  resolve = createFieldResolver(h.ctx);
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.telemetry.counts.length = 0;
});

function event(field: string, args: Record<string, unknown>, identity: ResolverIdentity | null): ResolverEvent {
  const [parentTypeName = '', fieldName = ''] = field.split('.');
  return { parentTypeName, fieldName, arguments: args, identity };
}

async function pinnedKey(serial: string) {
  const made = await makeCsr({ commonName: serial });
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', made.keys.publicKey));
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return { ...made, publicKey };
}

function data<T>(envelope: ResolverEnvelope): T {
  if (!('data' in envelope)) throw new Error(`expected data, got ${JSON.stringify(envelope)}`);
  return envelope.data as T;
}

interface Registration {
  registrationToken: string;
  device: { publicKeyPin: string | null };
}

describe('key pinning through createFieldResolver', () => {
  it('pins at registerDevice, shows the pin on Query.device, and answers another key KeyMismatch', async () => {
    const serial = 'RFP-0001';
    const key = await pinnedKey(serial);
    const registration = data<Registration>(
      await resolve(
        event('Mutation.registerDevice', { input: { serialNumber: serial, publicKey: key.publicKey } }, ADMIN_IDENTITY),
      ),
    );
    expect(registration.device.publicKeyPin).toBe(key.publicKeyFingerprint);
    expect(
      data<{ publicKeyPin: string | null }>(
        await resolve(event('Query.device', { serialNumber: serial }, ADMIN_IDENTITY)),
      ).publicKeyPin,
    ).toBe(key.publicKeyFingerprint);

    const clone = await makeCsr({ commonName: serial });
    const refused = await resolve(
      event(
        'Mutation.requestCertificate',
        { input: { serialNumber: serial, registrationToken: registration.registrationToken, csr: clone.csrPem } },
        null,
      ),
    );
    expect(refused).toEqual({
      error: { errorType: 'KeyMismatch', message: expect.stringMatching(/pinned/) as unknown },
    });
    expect(h.telemetry.counts).toEqual([{ metric: 'RequestFailed', dimensions: { errorType: 'KeyMismatch' } }]);

    const granted = await resolve(
      event(
        'Mutation.requestCertificate',
        { input: { serialNumber: serial, registrationToken: registration.registrationToken, csr: key.csrPem } },
        null,
      ),
    );
    expect(data<{ serialNumber: string }>(granted).serialNumber).toBe(serial);
  });

  it('pins per input in registerDevices and refuses a bad key as InvalidInput', async () => {
    const key = await pinnedKey('RFP-0002');
    const batch = data<Registration[]>(
      await resolve(
        event(
          'Mutation.registerDevices',
          { input: [{ serialNumber: 'RFP-0002', publicKey: key.publicKey }, { serialNumber: 'RFP-0003' }] },
          ADMIN_IDENTITY,
        ),
      ),
    );
    expect(batch.map((registration) => registration.device.publicKeyPin)).toEqual([key.publicKeyFingerprint, null]);

    const refused = await resolve(
      event(
        'Mutation.registerDevice',
        {
          input: { serialNumber: 'RFP-0004', publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' },
        },
        ADMIN_IDENTITY,
      ),
    );
    expect(refused).toMatchObject({ error: { errorType: 'InvalidInput' } });
    expect(await h.table.store.get('RFP-0004')).toBeUndefined();
  });

  it('keeps the pin through resetDevice without publicKey, and replaces it with one', async () => {
    const key = await pinnedKey('RFP-0005');
    await resolve(
      event(
        'Mutation.registerDevice',
        { input: { serialNumber: 'RFP-0005', publicKey: key.publicKey } },
        ADMIN_IDENTITY,
      ),
    );
    const kept = data<Registration>(
      await resolve(event('Mutation.resetDevice', { serialNumber: 'RFP-0005' }, ADMIN_IDENTITY)),
    );
    expect(kept.device.publicKeyPin).toBe(key.publicKeyFingerprint);

    const replacement = await pinnedKey('RFP-0005');
    const replaced = data<Registration>(
      await resolve(
        event('Mutation.resetDevice', { serialNumber: 'RFP-0005', publicKey: replacement.publicKey }, ADMIN_IDENTITY),
      ),
    );
    expect(replaced.device.publicKeyPin).toBe(replacement.publicKeyFingerprint);
  });
});
