/**
 * The five round trips of an enrollment, counted (not timed): every store and authority call is given its round,
 * 1 + the highest round of the calls that had answered when it started (test/support/round-counter.ts).
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import type { CoreContext } from '../../../../resolvers/core/context.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import { makeCsr } from '../../../support/csr.ts';
import { RoundCounter } from '../../../support/round-counter.ts';

let h: CoreHarness;

beforeAll(async () => {
  h = await startCoreHarness();
});
afterAll(async () => {
  await h.close();
});

/** Enroll one new device through `ctx`, counting only the enrollment's own calls. */
async function enrollCounting(ctx: CoreContext, counter: RoundCounter, serial: string): Promise<void> {
  const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
  const csr = (await makeCsr({ commonName: serial })).csrPem;
  counter.reset();
  await requestCertificate(ctx, { serialNumber: serial, registrationToken, csr });
}

describe('an enrollment takes five sequential round trips', () => {
  it('cold (the first request: the connection info is fetched too) and warm alike, in this order', async () => {
    const counter = new RoundCounter();
    const ctx: CoreContext = {
      ...h.ctx,
      store: counter.wrap(h.ctx.store, 'store'),
      authority: counter.wrap(h.ctx.authority, 'authority'),
    };
    for (const serial of ['RT-COLD', 'RT-WARM']) {
      await enrollCounting(ctx, counter, serial);
      expect(counter.rounds, `${serial}: ${JSON.stringify(counter.calls)}`).toBeLessThanOrEqual(5);
      expect({
        claim: counter.roundOf('store.claim'),
        connection: counter.roundOf('authority.connectionInfo'),
        create: counter.roundOf('authority.createCertificate'),
        thing: counter.roundOf('authority.ensureThing'),
        record: counter.roundOf('store.replace'),
        attachPolicy: counter.roundOf('authority.attachPolicy'),
        attachThing: counter.roundOf('authority.attachThingPrincipal'),
        activate: counter.roundOf('authority.setCertificateStatus'),
        issuedEvent: counter.roundOf('store.appendEvent'),
      }).toEqual({
        claim: 1,
        connection: 2,
        create: 2,
        thing: 2,
        record: 3,
        attachPolicy: 3,
        attachThing: 3,
        activate: 4,
        issuedEvent: 5,
      });
      // The final write goes with the ISSUED event, after activation; nothing is read first.
      expect(counter.calls.filter((call) => call.name === 'store.replace').map((call) => call.round)).toEqual([3, 5]);
      expect(counter.calls.map((call) => call.name)).not.toContain('store.get');
    }
  });

  it('the counter counts: a call that waits for another comes a round later', async () => {
    const counter = new RoundCounter();
    const port = counter.wrap({ call: () => Promise.resolve() }, 'port');
    await Promise.all([port.call(), port.call()]);
    await port.call();
    expect(counter.calls.map((call) => call.round)).toEqual([1, 1, 2]);
    expect(counter.rounds).toBe(2);
  });
});
