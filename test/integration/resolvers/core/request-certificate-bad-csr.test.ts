/**
 * A CSR that fails inspection is refused before anything is read or written: the device keeps its state, its
 * token and its count of wrong tokens, no event is appended and the authority is never called. Each CSR below
 * once got past the checks (or out of them as InternalError) and changed state.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerDevice } from '../../../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../../../resolvers/core/request-certificate.ts';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { ADMIN, startCoreHarness, type CoreHarness } from '../../../support/core-harness.ts';
import {
  craftCsr,
  DER_NULL,
  OID,
  subjectOf,
  TAG,
  tlv,
  utf8,
  withExplicitP256Parameters,
} from '../../../support/crafted-csr.ts';

const SERIAL = 'SN-BAD-CSR';

let h: CoreHarness;
let token: string;

beforeAll(async () => {
  h = await startCoreHarness();
  ({ registrationToken: token } = await registerDevice(h.ctx, { serialNumber: SERIAL }, ADMIN));
});
afterAll(async () => {
  await h.close();
});
afterEach(() => {
  h.authority.reset();
});

/** Every item of the table (devices, events, reservations, secrets), in a stable order. */
async function tableItems(): Promise<string[]> {
  const { Items = [] } = await h.table.client.send(new ScanCommand({ TableName: h.table.tableName }));
  return Items.map((item) => JSON.stringify(item)).sort();
}

const BAD_CSRS = {
  'a subject attribute value the ASN.1 library cannot re-encode': () =>
    craftCsr({
      subject: subjectOf([OID.commonName, utf8(SERIAL)], [OID.organization, tlv(TAG.utcTime, Buffer.from('Acme'))]),
    }),
  'an EC key with explicit curve parameters': () =>
    craftCsr({ commonName: SERIAL, subjectPublicKeyInfo: withExplicitP256Parameters }),
  'an RSA signature algorithm without its NULL parameters': () =>
    craftCsr({ keyType: 'rsa', commonName: SERIAL, signatureAlgorithm: tlv(TAG.sequence, OID.sha256WithRsa) }),
  'ECDSA signature algorithm parameters': () =>
    craftCsr({ commonName: SERIAL, signatureAlgorithm: tlv(TAG.sequence, OID.ecdsaWithSha256, DER_NULL) }),
};

describe('requestCertificate with a CSR that fails inspection', () => {
  it.each(Object.entries(BAD_CSRS))('changes nothing for %s', async (_case, csrFor) => {
    const csr = csrFor();
    const before = await tableItems();
    const certificatesBefore = await h.localCa.registry.listCertificates();

    // With the right token and with a wrong one: the CSR is judged first, so neither counts as an attempt.
    for (const registrationToken of [token, 'W'.repeat(43)]) {
      const error = await requestCertificate(h.ctx, { serialNumber: SERIAL, registrationToken, csr }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(CvmError);
      expect((error as CvmError).errorType).toBe('InvalidCsr');
    }

    expect(await tableItems()).toEqual(before);
    expect(h.authority.calls).toEqual([]);
    expect(await h.localCa.registry.listCertificates()).toEqual(certificatesBefore);
    expect(h.telemetry.counts).toEqual([]);
  });

  it('still enrolls the device afterwards with a good CSR', async () => {
    const grant = await requestCertificate(h.ctx, {
      serialNumber: SERIAL,
      registrationToken: token,
      csr: craftCsr({ commonName: SERIAL }),
    });
    expect(grant.serialNumber).toBe(SERIAL);
  });
});
