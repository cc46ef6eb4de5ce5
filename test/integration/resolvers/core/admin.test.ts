import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { getDevice, listDeviceEvents, listDevices } from '../../../../resolvers/core/query-devices.ts';
import { registerDevice, registerDevices } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { resetDevice, revokeCertificate } from '../../../../resolvers/core/revoke-and-reset.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr } from '../../../support/csr.ts';

let h: CoreHarness;
let counter = 0;

beforeAll(async () => {
  h = await startCoreHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(() => {
  h.authority.reset();
});

function nextSerial(prefix = 'ADM'): string {
  counter += 1;
  return `${prefix}-${String(counter).padStart(5, '0')}`;
}

async function errorTypeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof CvmError) return error.errorType;
    throw error;
  }
}

async function enroll(serial: string, token: string) {
  const csr = await makeCsr({ commonName: serial });
  return requestCertificate(h.ctx, { serialNumber: serial, registrationToken: token, csr: csr.csrPem });
}

describe('registerDevice', () => {
  it('registers a PENDING device with a one-time token it stores only as a hash', async () => {
    const serial = nextSerial();
    const registration = await registerDevice(
      h.ctx,
      { serialNumber: serial, thingName: `thing-${serial}`, attributes: '{"batch":"B7"}', tokenTtlSeconds: 3600 },
      ADMIN,
    );
    expect(registration.registrationToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(registration.tokenExpiresAt).toBe(new Date(h.clock.now().getTime() + 3600_000).toISOString());
    expect(registration.device).toMatchObject({
      serialNumber: serial,
      thingName: `thing-${serial}`,
      status: 'PENDING',
      locked: false,
      attributes: { batch: 'B7' },
      certificateId: null,
    });
    const stored = JSON.stringify(await h.table.store.get(serial));
    expect(stored).not.toContain(registration.registrationToken);
  });

  it.each([
    ['a bad serial', { serialNumber: 'has space' }],
    ['a bad thing name', { thingName: 'a/b' }],
    ['attributes that are not JSON', { attributes: '{' }],
    ['attributes that are not an object', { attributes: '[1]' }],
    ['four attributes', { attributes: '{"a":"1","b":"2","c":"3","d":"4"}' }],
    ['a non-string attribute', { attributes: '{"a":1}' }],
    ['a token lifetime under a minute', { tokenTtlSeconds: 59 }],
    ['a token lifetime over a year', { tokenTtlSeconds: 366 * 24 * 3600 }],
    ['a fractional token lifetime', { tokenTtlSeconds: 90.5 }],
  ])('refuses %s with InvalidInput and writes nothing', async (_case, change) => {
    const serial = nextSerial();
    expect(await errorTypeOf(registerDevice(h.ctx, { serialNumber: serial, ...change }, ADMIN))).toBe('InvalidInput');
    expect(await h.table.store.get(serial)).toBeUndefined();
  });

  it('refuses a thing name another device has, and keeps nothing of the call', async () => {
    const owner = nextSerial();
    await registerDevice(h.ctx, { serialNumber: owner, thingName: `shared-${owner}` }, ADMIN);
    const [a, b] = [nextSerial(), nextSerial()];
    const answer = registerDevices(
      h.ctx,
      [{ serialNumber: a }, { serialNumber: b, thingName: `shared-${owner}` }],
      ADMIN,
    );
    expect(await errorTypeOf(answer)).toBe('DeviceAlreadyExists');
    expect(await h.table.store.getMany([a, b])).toEqual([]);
    // Nothing of the call is held: `a`'s default thing name is free for another device.
    await registerDevice(h.ctx, { serialNumber: nextSerial(), thingName: a }, ADMIN);
    // A serial's default thing name (the serial itself) is taken too.
    const plain = nextSerial();
    await registerDevice(h.ctx, { serialNumber: plain }, ADMIN);
    expect(await errorTypeOf(registerDevice(h.ctx, { serialNumber: nextSerial(), thingName: plain }, ADMIN))).toBe(
      'DeviceAlreadyExists',
    );
  });

  it('refuses a batch that gives two devices one thing name', async () => {
    const [a, b] = [nextSerial(), nextSerial()];
    const answer = registerDevices(
      h.ctx,
      [
        { serialNumber: a, thingName: 'twin-thing' },
        { serialNumber: b, thingName: 'twin-thing' },
      ],
      ADMIN,
    );
    expect(await errorTypeOf(answer)).toBe('DeviceAlreadyExists');
    expect(await h.table.store.getMany([a, b])).toEqual([]);
  });

  it('refuses a serial that is already registered (DeviceAlreadyExists)', async () => {
    const serial = nextSerial();
    const first = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    expect(await errorTypeOf(registerDevice(h.ctx, { serialNumber: serial }, ADMIN))).toBe('DeviceAlreadyExists');
    // The first token still works.
    await enroll(serial, first.registrationToken);
  });
});

describe('registerDevices', () => {
  it('registers up to 100 devices, each with its own token', async () => {
    const inputs = Array.from({ length: 100 }, () => ({ serialNumber: nextSerial('BAT') }));
    const registrations = await registerDevices(h.ctx, inputs, ADMIN);
    expect(registrations).toHaveLength(100);
    expect(new Set(registrations.map((r) => r.registrationToken)).size).toBe(100);
    expect(registrations.map((r) => r.device.serialNumber)).toEqual(inputs.map((i) => i.serialNumber));
  });

  it.each([
    ['an empty list', []],
    ['101 devices', Array.from({ length: 101 }, (_, i) => ({ serialNumber: `MANY-${i}` }))],
    ['not a list', { serialNumber: 'X' }],
  ])('refuses %s with InvalidInput', async (_case, input) => {
    expect(await errorTypeOf(registerDevices(h.ctx, input, ADMIN))).toBe('InvalidInput');
    expect(await h.table.store.get('MANY-0')).toBeUndefined();
  });

  it('refuses a serial repeated inside the call and writes none of it', async () => {
    const a = nextSerial();
    const b = nextSerial();
    const answer = registerDevices(h.ctx, [{ serialNumber: a }, { serialNumber: b }, { serialNumber: a }], ADMIN);
    expect(await errorTypeOf(answer)).toBe('DeviceAlreadyExists');
    expect(await h.table.store.getMany([a, b])).toEqual([]);
  });

  it('refuses a batch with one already-registered serial and writes none of it', async () => {
    const taken = nextSerial();
    await registerDevice(h.ctx, { serialNumber: taken }, ADMIN);
    const fresh = [nextSerial(), nextSerial()];
    const error = await registerDevices(
      h.ctx,
      [{ serialNumber: fresh[0] }, { serialNumber: taken }, { serialNumber: fresh[1] }],
      ADMIN,
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CvmError);
    expect((error as CvmError).errorType).toBe('DeviceAlreadyExists');
    expect((error as CvmError).message).toContain(taken);
    expect(await h.table.store.getMany(fresh)).toEqual([]);
  });

  it('undoes its own writes when another registration wins a race mid-batch', async () => {
    const serials = [nextSerial(), nextSerial(), nextSerial()];
    const store = h.table.store;
    const original = store.create.bind(store);
    store.create = async (record) => {
      // Someone else registers the last serial between our check and our write.
      if (record.serialNumber === serials[2]) await original({ ...record, thingName: 'someone-else' });
      return original(record);
    };
    try {
      const answer = registerDevices(
        h.ctx,
        serials.map((serialNumber) => ({ serialNumber })),
        ADMIN,
      );
      expect(await errorTypeOf(answer)).toBe('DeviceAlreadyExists');
    } finally {
      store.create = original;
    }
    const left = await h.table.store.getMany(serials);
    expect(left.map((record) => record.thingName)).toEqual(['someone-else']);
  });
});

describe('device and devices', () => {
  it('returns null for an unknown serial, InvalidInput for a malformed one', async () => {
    expect(await getDevice(h.ctx, 'NOPE-1')).toBeNull();
    expect(await errorTypeOf(getDevice(h.ctx, 'no pe'))).toBe('InvalidInput');
  });

  it('pages through more devices than one page, with a status filter, each exactly once', async () => {
    const local = await startCoreHarness();
    try {
      const inputs = Array.from({ length: 60 }, (_, i) => ({ serialNumber: `PG-${String(i).padStart(3, '0')}` }));
      const registrations = await registerDevices(local.ctx, inputs, ADMIN);
      // Enroll 7 of them so that two statuses are populated.
      for (const registration of registrations.slice(0, 7)) {
        const serial = registration.device.serialNumber;
        const csr = await makeCsr({ commonName: serial });
        await requestCertificate(local.ctx, {
          serialNumber: serial,
          registrationToken: registration.registrationToken,
          csr: csr.csrPem,
        });
      }

      const seen: string[] = [];
      let nextToken: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<typeof listDevices>> = await listDevices(local.ctx, {
          status: 'PENDING',
          limit: 10,
          ...(nextToken ? { nextToken } : {}),
        });
        expect(page.items.every((device) => device.status === 'PENDING')).toBe(true);
        seen.push(...page.items.map((device) => device.serialNumber));
        nextToken = page.nextToken;
        pages += 1;
      } while (nextToken);
      expect(pages).toBeGreaterThanOrEqual(6);
      expect(seen).toHaveLength(53);
      expect(new Set(seen).size).toBe(53);

      const everything: string[] = [];
      nextToken = null;
      do {
        const page: Awaited<ReturnType<typeof listDevices>> = await listDevices(local.ctx, {
          limit: 25,
          ...(nextToken ? { nextToken } : {}),
        });
        everything.push(...page.items.map((device) => device.serialNumber));
        nextToken = page.nextToken;
      } while (nextToken);
      expect(everything.sort()).toEqual(inputs.map((input) => input.serialNumber).sort());

      const active = await listDevices(local.ctx, { status: 'ACTIVE' });
      expect(active.items).toHaveLength(7);
      expect(active.nextToken).toBeNull();
    } finally {
      await local.close();
    }
  });

  it.each([
    ['limit 0', { limit: 0 }],
    ['limit 101', { limit: 101 }],
    ['an unknown status', { status: 'LOST' }],
  ])('refuses %s with InvalidInput', async (_case, args) => {
    expect(await errorTypeOf(listDevices(h.ctx, args))).toBe('InvalidInput');
  });

  it('refuses a tampered nextToken and one from another status', async () => {
    await registerDevices(
      h.ctx,
      Array.from({ length: 3 }, () => ({ serialNumber: nextSerial('TK') })),
      ADMIN,
    );
    const page = await listDevices(h.ctx, { status: 'PENDING', limit: 1 });
    const token = page.nextToken as string;
    expect(token).toBeTruthy();
    const [body, signature] = token.split('.') as [string, string];
    const decoded = JSON.parse(Buffer.from(body, 'base64url').toString()) as unknown[];
    const forged = Buffer.from(JSON.stringify([1, 'devices:ACTIVE', decoded[2], decoded[3]])).toString('base64url');

    for (const bad of [
      `${forged}.${signature}`,
      `${body}x.${signature}`,
      `${body}.${signature.slice(1)}`,
      'garbage',
      '',
    ]) {
      expect(await errorTypeOf(listDevices(h.ctx, { status: 'PENDING', nextToken: bad }))).toBe('InvalidInput');
    }
    expect(await errorTypeOf(listDevices(h.ctx, { status: 'ACTIVE', nextToken: token }))).toBe('InvalidInput');
    expect(await errorTypeOf(listDevices(h.ctx, { nextToken: token }))).toBe('InvalidInput');
    expect(await errorTypeOf(listDeviceEvents(h.ctx, { serialNumber: 'TK-1', nextToken: token }))).toBe('InvalidInput');
  });
});

describe('revokeCertificate', () => {
  it('revokes the certificate in the authority, detaches it, and kills the token', async () => {
    const serial = nextSerial();
    const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const grant = await enroll(serial, registrationToken);

    const device = await revokeCertificate(h.ctx, { serialNumber: serial, reason: 'stolen' }, ADMIN);
    expect(device).toMatchObject({ status: 'REVOKED', revocationReason: 'stolen', certificateId: grant.certificateId });
    expect(device.revokedAt).toBe(h.clock.now().toISOString());
    const certificate = await h.localCa.registry.getCertificate(grant.certificateId);
    expect(certificate?.status).toBe('REVOKED');
    expect(certificate?.policies).toEqual([]);
    expect((await h.localCa.registry.getThing(serial))?.principals).toEqual([]);

    // The old token cannot fetch the old certificate again.
    expect(await errorTypeOf(enroll(serial, registrationToken))).toBe('InvalidRegistrationToken');
    const csr = await makeCsr({ commonName: serial });
    expect(
      await errorTypeOf(requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: csr.csrPem })),
    ).toBe('InvalidRegistrationToken');
  });

  it('is harmless to repeat, and a repeat finishes an AWS IoT step that failed', async () => {
    const serial = nextSerial();
    const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const grant = await enroll(serial, registrationToken);
    h.authority.failNext('detachPolicy', new Error('injected'));
    await expect(revokeCertificate(h.ctx, { serialNumber: serial, reason: 'first' }, ADMIN)).rejects.toThrow(
      'injected',
    );
    // The device is already REVOKED; the certificate is revoked but still attached to the policy.
    expect((await h.table.store.get(serial))?.status).toBe('REVOKED');
    expect((await h.localCa.registry.getCertificate(grant.certificateId))?.policies).not.toEqual([]);
    const again = await revokeCertificate(h.ctx, { serialNumber: serial, reason: 'second' }, ADMIN);
    expect(again).toMatchObject({ status: 'REVOKED', revocationReason: 'first' });
    const certificate = await h.localCa.registry.getCertificate(grant.certificateId);
    expect(certificate).toMatchObject({ status: 'REVOKED', policies: [] });
    const events = await listDeviceEvents(h.ctx, { serialNumber: serial });
    expect(events.items.filter((event) => event.type === 'REVOKED')).toHaveLength(1);
  });

  it('revokes a device that never enrolled: its token dies', async () => {
    const serial = nextSerial();
    const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    const device = await revokeCertificate(h.ctx, { serialNumber: serial }, ADMIN);
    expect(device).toMatchObject({ status: 'REVOKED', certificateId: null, tokenExpiresAt: null });
    expect(await errorTypeOf(enroll(serial, registrationToken))).toBe('InvalidRegistrationToken');
  });

  it('answers DeviceNotFound for an unknown serial and InvalidInput for a long reason', async () => {
    expect(await errorTypeOf(revokeCertificate(h.ctx, { serialNumber: 'NOBODY-9' }, ADMIN))).toBe('DeviceNotFound');
    const serial = nextSerial();
    await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    expect(await errorTypeOf(revokeCertificate(h.ctx, { serialNumber: serial, reason: 'x'.repeat(257) }, ADMIN))).toBe(
      'InvalidInput',
    );
    expect((await h.table.store.get(serial))?.status).toBe('PENDING');
  });
});

describe('resetDevice', () => {
  it('revokes the certificate, issues a new token, and the device enrolls again with a new key', async () => {
    const serial = nextSerial();
    // Each step a millisecond apart, so the trail's order is the order of the steps.
    const { registrationToken: oldToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    h.clock.advance(1);
    const first = await enroll(serial, oldToken);
    h.clock.advance(1);

    const reset = await resetDevice(h.ctx, { serialNumber: serial, tokenTtlSeconds: 600 }, ADMIN);
    h.clock.advance(1);
    expect(reset.device).toMatchObject({ status: 'PENDING', certificateId: null, locked: false });
    expect(reset.registrationToken).not.toBe(oldToken);
    expect((await h.localCa.registry.getCertificate(first.certificateId))?.status).toBe('REVOKED');

    expect(await errorTypeOf(enroll(serial, oldToken))).toBe('InvalidRegistrationToken');
    h.clock.advance(1);
    const second = await enroll(serial, reset.registrationToken);
    expect(second.certificateId).not.toBe(first.certificateId);
    expect((await h.localCa.registry.getCertificate(second.certificateId))?.status).toBe('ACTIVE');

    const events = await listDeviceEvents(h.ctx, { serialNumber: serial });
    // Newest first; TOKEN_FAILED is the old token refused after the reset.
    expect(events.items.map((event) => event.type)).toEqual([
      'ISSUED',
      'TOKEN_FAILED',
      'RESET',
      'REVOKED',
      'ISSUED',
      'REGISTERED',
    ]);
    const resetEvent = events.items.find((event) => event.type === 'RESET');
    expect(resetEvent?.actor).toBe(ADMIN.arn);
    expect(events.items.find((event) => event.type === 'ISSUED')?.actor).toBe('device');
    expect(JSON.stringify(events)).not.toContain(reset.registrationToken);
  });

  it('answers DeviceNotFound for an unknown serial', async () => {
    expect(await errorTypeOf(resetDevice(h.ctx, { serialNumber: 'NOBODY-8' }, ADMIN))).toBe('DeviceNotFound');
  });

  it('pages events newest first', async () => {
    const serial = nextSerial();
    await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
    for (let i = 0; i < 3; i += 1) {
      h.clock.advance(1000);
      await resetDevice(h.ctx, { serialNumber: serial }, ADMIN);
    }
    const first = await listDeviceEvents(h.ctx, { serialNumber: serial, limit: 2 });
    expect(first.items.map((event) => event.type)).toEqual(['RESET', 'RESET']);
    const rest = await listDeviceEvents(h.ctx, { serialNumber: serial, limit: 10, nextToken: first.nextToken });
    expect(rest.items.map((event) => event.type)).toEqual(['RESET', 'REGISTERED']);
    const times = [...first.items, ...rest.items].map((event) => event.at);
    expect([...times].sort().reverse()).toEqual(times);
  });
});
