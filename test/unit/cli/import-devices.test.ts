import { describe, expect, it } from 'vitest';
import type { AdminApi } from '../../../client/admin-api.ts';
import { GraphqlError } from '../../../client/errors.ts';
import type { Device, DeviceRegistration, RegisterDeviceInput } from '../../../client/types.ts';
import { InputFileError } from '../../../cli/errors.ts';
import { pendingDevice } from '../../support/device-fixture.ts';
import { importDevices, parseDeviceCsv, planBatches, type ImportRow } from '../../../cli/import-devices.ts';

function device(serialNumber: string, thingName = serialNumber): Device {
  return pendingDevice(serialNumber, { thingName });
}

/**
 * An in-memory registry that behaves like the API: registerDevices registers all or none and refuses a batch
 * holding any serial already registered. `raceOnce` registers serials behind the importer's back on the next call.
 */
function fakeAdminApi(alreadyRegistered: readonly string[] = []) {
  const registered = new Set(alreadyRegistered);
  const batches: string[][] = [];
  const lookups: string[] = [];
  let raceOnce: readonly string[] = [];
  const api: Pick<AdminApi, 'registerDevices' | 'getDevice'> = {
    registerDevices(inputs: readonly RegisterDeviceInput[]): Promise<DeviceRegistration[]> {
      for (const serial of raceOnce) registered.add(serial);
      raceOnce = [];
      const serials = inputs.map((input) => input.serialNumber);
      batches.push(serials);
      const taken = serials.filter((serial) => registered.has(serial));
      if (taken.length > 0) {
        return Promise.reject(
          new GraphqlError([
            { errorType: 'DeviceAlreadyExists', message: `Already registered: ${taken.join(', ')}.`, path: [] },
          ]),
        );
      }
      for (const serial of serials) registered.add(serial);
      return Promise.resolve(
        inputs.map((input) => ({
          registrationToken: `token-${input.serialNumber}`,
          tokenExpiresAt: '2026-12-06T12:00:00.000Z',
          device: device(input.serialNumber, input.thingName),
        })),
      );
    },
    getDevice(serialNumber: string): Promise<Device | null> {
      lookups.push(serialNumber);
      return Promise.resolve(registered.has(serialNumber) ? device(serialNumber) : null);
    },
  };
  return {
    api,
    batches,
    lookups,
    registered,
    registerBehindTheBack: (serials: readonly string[]) => {
      raceOnce = serials;
    },
  };
}

function rows(count: number, prefix = 'SN-'): ImportRow[] {
  return Array.from({ length: count }, (_, index) => ({ serialNumber: `${prefix}${index + 1}` }));
}

/** Runs an import and collects what the hooks saw. */
async function runImport(api: Pick<AdminApi, 'registerDevices' | 'getDevice'>, input: readonly ImportRow[]) {
  const written: string[] = [];
  const skipped: string[][] = [];
  const settled: number[] = [];
  const summary = await importDevices(api, input, {
    onRegistered: (registrations) => {
      written.push(...registrations.map((registration) => registration.device.serialNumber));
      return Promise.resolve();
    },
    onSkipped: (serials) => skipped.push([...serials]),
    onBatchDone: (count) => settled.push(count),
  });
  return { summary, written, skipped, settled };
}

/** A P-256 public key as `openssl pkey -pubout` prints it (the CSV parser only carries it; the server checks it). */
const PUBLIC_KEY = [
  '-----BEGIN PUBLIC KEY-----',
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEb84PWHzsx2UEk0rIh2goChcqPNs',
  'pYLzPdVvIq6wmrJ8WKwF1bYYQ0AIzUjGH7wBHW7pFXbNeBRcsCzSrMBGgQ==',
  '-----END PUBLIC KEY-----',
].join('\n');

describe('parseDeviceCsv', () => {
  it('reads serialNumber and an optional thingName under a header row', () => {
    const text = 'serialNumber,thingName\nSN-1,thing-1\n SN-2 ,\n\nSN-3,thing-3\n';

    expect(parseDeviceCsv(text)).toEqual([
      { serialNumber: 'SN-1', thingName: 'thing-1' },
      { serialNumber: 'SN-2' },
      { serialNumber: 'SN-3', thingName: 'thing-3' },
    ]);
  });

  it('reads a publicKey column whose cells hold the PEM itself, in double quotes, line breaks and all', () => {
    const text = `serialNumber,thingName,publicKey\r\nSN-1,,"${PUBLIC_KEY.replace(/\n/g, '\r\n')}"\r\nSN-2,thing-2,\r\n`;

    expect(parseDeviceCsv(text)).toEqual([
      { serialNumber: 'SN-1', publicKey: PUBLIC_KEY.replace(/\n/g, '\r\n') },
      { serialNumber: 'SN-2', thingName: 'thing-2' },
    ]);
  });

  it('reads a file with only the serialNumber column (and a byte-order mark)', () => {
    expect(parseDeviceCsv('\uFEFFserialNumber\nSN-1\nSN-2\n')).toEqual([
      { serialNumber: 'SN-1' },
      { serialNumber: 'SN-2' },
    ]);
  });

  it.each([
    ['no serialNumber column', 'serial,thingName\nSN-1,a\n', /serialNumber column/],
    ['an unknown column', 'serialNumber,model\nSN-1,X1\n', /Unknown CSV column\(s\): model/],
    ['an empty serial', 'serialNumber,thingName\n,thing\n', /Row 2 has no serialNumber/],
    ['a repeated serial', 'serialNumber\nSN-1\nSN-2\nSN-1\n', /Row 4 repeats serial number SN-1/],
    ['a ragged row', 'serialNumber,thingName\nSN-1,a,extra\n', /cannot be read/],
    [
      'a publicKey cell that names a file',
      'serialNumber,publicKey\nSN-1,keys/sn-1.pub.pem\n',
      /Row 2: publicKey must be the PEM itself/,
    ],
    ['a PEM in a cell without quotes', `serialNumber,publicKey\nSN-1,${PUBLIC_KEY}\n`, /cannot be read/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseDeviceCsv(text)).toThrow(InputFileError);
    expect(() => parseDeviceCsv(text)).toThrow(message);
  });
});

describe('planBatches', () => {
  it.each([
    { count: 0, sizes: [] },
    { count: 1, sizes: [1] },
    { count: 100, sizes: [100] },
    { count: 101, sizes: [100, 1] },
    { count: 250, sizes: [100, 100, 50] },
  ])('cuts $count rows into batches of $sizes', ({ count, sizes }) => {
    const batches = planBatches(rows(count));

    expect(batches.map((batch) => batch.length)).toEqual(sizes);
    expect(batches.flat()).toEqual(rows(count));
  });
});

describe('importDevices', () => {
  it('registers new devices in batches of 100 and hands over every token', async () => {
    const fake = fakeAdminApi();

    const { summary, written, settled } = await runImport(fake.api, rows(250));

    expect(fake.batches.map((batch) => batch.length)).toEqual([100, 100, 50]);
    expect(written).toEqual(rows(250).map((row) => row.serialNumber));
    expect(settled).toEqual([100, 100, 50]);
    expect(summary).toEqual({ registered: 250, skipped: [] });
    expect(fake.lookups).toEqual([]);
  });

  it('resumes: skips whole batches registered by an earlier run and registers the rest', async () => {
    const fake = fakeAdminApi(rows(100).map((row) => row.serialNumber));

    const { summary, written, skipped } = await runImport(fake.api, rows(150));

    expect(skipped).toEqual([rows(100).map((row) => row.serialNumber)]);
    expect(written).toEqual(
      rows(150)
        .slice(100)
        .map((row) => row.serialNumber),
    );
    expect(summary.registered).toBe(50);
    expect(summary.skipped).toHaveLength(100);
  });

  it('registers the rest of a batch when only some of its serials exist', async () => {
    const fake = fakeAdminApi(['SN-2', 'SN-4']);

    const { summary, written, skipped } = await runImport(fake.api, rows(5));

    expect(fake.batches).toEqual([
      ['SN-1', 'SN-2', 'SN-3', 'SN-4', 'SN-5'],
      ['SN-1', 'SN-3', 'SN-5'],
    ]);
    expect(skipped).toEqual([['SN-2', 'SN-4']]);
    expect(written).toEqual(['SN-1', 'SN-3', 'SN-5']);
    expect(summary).toEqual({ registered: 3, skipped: ['SN-2', 'SN-4'] });
  });

  it('copes with a serial registered by someone else between its check and its retry', async () => {
    const fake = fakeAdminApi(['SN-1']);
    const original = fake.api.getDevice;
    let raced = false;
    fake.api.getDevice = async (serialNumber) => {
      if (!raced) {
        raced = true;
        fake.registerBehindTheBack(['SN-3']);
      }
      return original(serialNumber);
    };

    const { summary } = await runImport(fake.api, rows(3));

    expect(summary).toEqual({ registered: 1, skipped: ['SN-1', 'SN-3'] });
    expect(fake.batches).toHaveLength(3);
  });

  it('rethrows DeviceAlreadyExists when none of the batch turns out to exist', async () => {
    const refusal = new GraphqlError([{ errorType: 'DeviceAlreadyExists', message: 'Taken.', path: [] }]);
    const api: Pick<AdminApi, 'registerDevices' | 'getDevice'> = {
      registerDevices: () => Promise.reject(refusal),
      getDevice: () => Promise.resolve(null),
    };

    await expect(runImport(api, rows(2))).rejects.toBe(refusal);
  });

  it('skips serials whose tokens the tokens file already holds, without asking the API', async () => {
    const fake = fakeAdminApi(['SN-1', 'SN-2']);
    const skipped: string[][] = [];
    const summary = await importDevices(
      fake.api,
      rows(3),
      { onRegistered: () => Promise.resolve(), onSkipped: (serials) => skipped.push([...serials]) },
      { alreadyHeld: new Set(['SN-1', 'SN-2']) },
    );
    expect(summary).toEqual({ registered: 1, skipped: ['SN-1', 'SN-2'] });
    expect(fake.batches).toEqual([['SN-3']]);
    expect(fake.lookups).toEqual([]);
    expect(skipped).toEqual([['SN-1', 'SN-2']]);
  });

  it('waits and retries a throttled call (the rate limit refused it, so nothing happened)', async () => {
    const fake = fakeAdminApi();
    let throttles = 2;
    const api: Pick<AdminApi, 'registerDevices' | 'getDevice'> = {
      ...fake.api,
      registerDevices: async (inputs) => {
        if (throttles > 0) {
          throttles -= 1;
          throw new GraphqlError([{ errorType: 'Throttled', message: 'Too many requests.', path: [] }]);
        }
        return fake.api.registerDevices(inputs);
      },
    };
    const waits: number[] = [];
    const summary = await importDevices(
      api,
      rows(5),
      { onRegistered: () => Promise.resolve() },
      {
        retry: {
          sleep: (ms) => {
            waits.push(ms);
            return Promise.resolve();
          },
          random: () => 0.5,
        },
      },
    );
    expect(summary.registered).toBe(5);
    expect(waits).toEqual([1000, 2000]);
  });

  it('stops at any other error, keeping the tokens of the batches before it', async () => {
    const fake = fakeAdminApi();
    const original = fake.api.registerDevices;
    fake.api.registerDevices = async (inputs) => {
      if (fake.batches.length === 1)
        throw new GraphqlError([{ errorType: 'InternalError', message: 'Broken.', path: [] }]);
      return original(inputs);
    };
    const written: string[] = [];

    await expect(
      importDevices(fake.api, rows(150), {
        onRegistered: (registrations) => {
          written.push(...registrations.map((registration) => registration.device.serialNumber));
          return Promise.resolve();
        },
      }),
    ).rejects.toMatchObject({ errorType: 'InternalError' });
    expect(written).toHaveLength(100);
  });

  it('keeps several batches in flight and writes their tokens one batch at a time', async () => {
    const fake = fakeAdminApi();
    const original = fake.api.registerDevices;
    let inFlight = 0;
    let maxInFlight = 0;
    fake.api.registerDevices = async (inputs) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return original(inputs);
    };
    let writing = false;
    let overlapped = false;
    const written: string[] = [];

    await importDevices(
      fake.api,
      rows(1000),
      {
        onRegistered: async (registrations) => {
          overlapped ||= writing;
          writing = true;
          await new Promise((resolve) => setImmediate(resolve));
          written.push(...registrations.map((registration) => registration.device.serialNumber));
          writing = false;
        },
      },
      { concurrency: 3 },
    );

    expect(maxInFlight).toBe(3);
    expect(overlapped).toBe(false);
    expect(written.sort()).toEqual(
      rows(1000)
        .map((row) => row.serialNumber)
        .sort(),
    );
  });
});
