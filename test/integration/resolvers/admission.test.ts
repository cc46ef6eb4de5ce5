/**
 * Admission before spending AWS IoT quota: a burst of requestCertificate calls through the real field resolver
 * (core on dynalite, the local CA behind a gate) never has more issuances calling the authority than the cap,
 * the rest are answered Throttled without any authority call, and admin fields are served meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolverEnvelope, ResolverEvent } from '../../../contract/lambda-envelope.ts';
import { admitIssuances, IssuanceSlots } from '../../../resolvers/admission.ts';
import type { CertificateAuthority, CreatedCertificate } from '../../../resolvers/core/ports.ts';
import { registerDevices } from '../../../resolvers/core/register-devices.ts';
import { createFieldResolver } from '../../../resolvers/resolve-field.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../support/core-harness.ts';
import { makeCsr } from '../../support/csr.ts';

/** Delegates to the harness authority, holding every createCertificate until released, and counts them. */
class GatedAuthority implements CertificateAuthority {
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  #open!: () => void;
  readonly #opened = new Promise<void>((resolve) => (this.#open = resolve));
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly inner: CertificateAuthority) {}

  release(): void {
    this.#open();
  }

  /** Resolves once `count` createCertificate calls have started. */
  reached(count: number): Promise<void> {
    if (this.calls >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async createCertificate(csrPem: string): Promise<CreatedCertificate> {
    this.calls += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (const waiter of this.#waiters.filter((w) => this.calls >= w.count)) waiter.resolve();
    try {
      await this.#opened;
      return await this.inner.createCertificate(csrPem);
    } finally {
      this.inFlight -= 1;
    }
  }
  ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    return this.inner.ensureThing(thingName, attributes);
  }
  attachPolicy(certificateArn: string): Promise<void> {
    return this.inner.attachPolicy(certificateArn);
  }
  attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    return this.inner.attachThingPrincipal(thingName, certificateArn);
  }
  setCertificateStatus(...args: Parameters<CertificateAuthority['setCertificateStatus']>): Promise<void> {
    return this.inner.setCertificateStatus(...args);
  }
  detachPolicy(certificateArn: string): Promise<void> {
    return this.inner.detachPolicy(certificateArn);
  }
  detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    return this.inner.detachThingPrincipal(thingName, certificateArn);
  }
  deleteCertificate(certificateId: string): Promise<void> {
    return this.inner.deleteCertificate(certificateId);
  }
  connectionInfo(): ReturnType<CertificateAuthority['connectionInfo']> {
    return this.inner.connectionInfo();
  }
  listRecentCertificates(since: Date): ReturnType<CertificateAuthority['listRecentCertificates']> {
    return this.inner.listRecentCertificates(since);
  }
  certificatePem(certificateId: string): Promise<string | undefined> {
    return this.inner.certificatePem(certificateId);
  }
}

const CAP = 4;
const BURST = 24;

let h: CoreHarness;
beforeAll(async () => {
  h = await startCoreHarness();
});
afterAll(async () => {
  await h.close();
});

function errorTypeOf(envelope: ResolverEnvelope): string | undefined {
  return 'error' in envelope ? envelope.error.errorType : undefined;
}

describe('admitIssuances', () => {
  it('lets a burst call AWS IoT for at most the cap of issuances and answers the rest Throttled first', async () => {
    const authority = new GatedAuthority(h.ctx.authority);
    const resolve = admitIssuances(createFieldResolver({ ...h.ctx, authority }), { maxConcurrent: CAP, maxWaitMs: 0 });
    const serials = Array.from({ length: BURST }, (_, i) => `ADMIT-${i}`);
    const registrations = await registerDevices(
      h.ctx,
      serials.map((serialNumber) => ({ serialNumber })),
      ADMIN,
    );
    const requests: ResolverEvent[] = await Promise.all(
      registrations.map(async (registration) => ({
        parentTypeName: 'Mutation',
        fieldName: 'requestCertificate',
        identity: null,
        arguments: {
          input: {
            serialNumber: registration.device.serialNumber,
            registrationToken: registration.registrationToken,
            csr: (await makeCsr({ commonName: registration.device.serialNumber })).csrPem,
          },
        },
      })),
    );

    const answers = requests.map((request) => resolve(request));
    await authority.reached(CAP);
    const refused = await Promise.all(answers.slice(CAP));
    expect(refused.map(errorTypeOf)).toEqual(Array(BURST - CAP).fill('Throttled'));
    expect(authority.calls).toBe(CAP);

    // The admin is not queued behind the devices.
    const admin = await resolve({
      parentTypeName: 'Query',
      fieldName: 'device',
      arguments: { serialNumber: serials[0] },
      identity: { userArn: ADMIN.arn },
    });
    expect(admin).toMatchObject({ data: { serialNumber: serials[0] } });

    authority.release();
    const admitted = await Promise.all(answers.slice(0, CAP));
    expect(admitted.map(errorTypeOf)).toEqual(Array(CAP).fill(undefined));
    expect(authority.maxInFlight).toBe(CAP);

    // Refused devices were never claimed: each retries and enrolls once a slot is free.
    const retried = await resolve(requests[CAP] as ResolverEvent);
    expect(errorTypeOf(retried)).toBeUndefined();
    expect(authority.calls).toBe(CAP + 1);
  });
});

describe('IssuanceSlots', () => {
  it('hands a released slot to the longest waiter, and refuses a waiter whose time ran out', async () => {
    const slots = new IssuanceSlots({ maxConcurrent: 1, maxWaitMs: 60_000 });
    expect(await slots.acquire()).toBe(true);
    const order: string[] = [];
    const first = slots.acquire().then((granted) => order.push(`first ${granted}`));
    const second = slots.acquire().then((granted) => order.push(`second ${granted}`));
    slots.release();
    await first;
    expect(order).toEqual(['first true']);
    expect(slots.inUse).toBe(1);
    slots.release();
    await second;
    expect(order).toEqual(['first true', 'second true']);

    const impatient = new IssuanceSlots({ maxConcurrent: 1, maxWaitMs: 1 });
    expect(await impatient.acquire()).toBe(true);
    expect(await impatient.acquire()).toBe(false);
    impatient.release();
    expect(impatient.inUse).toBe(0);
  });

  it('refuses a cap below one', () => {
    expect(() => new IssuanceSlots({ maxConcurrent: 0, maxWaitMs: 0 })).toThrow(/maxConcurrent/);
  });
});
