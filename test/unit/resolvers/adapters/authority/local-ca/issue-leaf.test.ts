import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CsrRejectedError } from '../../../../../../resolvers/adapters/authority/local-ca/errors.ts';
import {
  DEVICE_CERTIFICATE_NOT_AFTER,
  issueDeviceCertificate,
} from '../../../../../../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { createCa, type LocalCa } from '../../../../../../resolvers/adapters/authority/local-ca/local-ca.ts';
import { webcrypto, x509 } from '../../../../../../resolvers/adapters/authority/local-ca/x509.ts';
import { makeCsr, type CsrKeyType } from '../../../../../support/csr.ts';

const ISSUED_AT = new Date('2026-03-01T10:00:00Z');

let ca: LocalCa;
let csrPem: string;
let csrKeys: webcrypto.CryptoKeyPair;
let certificate: x509.X509Certificate;
let certificateId: string;

beforeAll(async () => {
  // As the local authority makes its device CA: valid as long as the certificates AWS IoT issues.
  ({ ca } = await createCa({ commonName: 'test device CA', notAfter: DEVICE_CERTIFICATE_NOT_AFTER }));
  ({ csrPem, keys: csrKeys } = await makeCsr({ commonName: 'SN-0001' }));
  ({ certificate, certificateId } = await issueDeviceCertificate(ca, csrPem, { now: ISSUED_AT }));
});

function hex(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString('hex');
}

describe('issueDeviceCertificate', () => {
  describe('extensions', () => {
    it('marks the certificate as not a CA, critically', () => {
      const extension = certificate.getExtension(x509.BasicConstraintsExtension);
      expect(extension?.critical).toBe(true);
      expect(extension?.ca).toBe(false);
      expect(extension?.pathLength).toBeUndefined();
    });

    it('allows digital signatures only, critically', () => {
      const extension = certificate.getExtension(x509.KeyUsagesExtension);
      expect(extension?.critical).toBe(true);
      expect(extension?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    });

    it('allows TLS client authentication only', () => {
      const extension = certificate.getExtension(x509.ExtendedKeyUsageExtension);
      expect(extension?.critical).toBe(false);
      expect(extension?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    });

    it('identifies the subject key by the SHA-1 of its public key bits (RFC 5280 method 1)', async () => {
      const rawPublicKey = await webcrypto.subtle.exportKey('raw', csrKeys.publicKey);
      const extension = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
      expect(extension?.critical).toBe(false);
      expect(extension?.keyId).toBe(createHash('sha1').update(Buffer.from(rawPublicKey)).digest('hex'));
    });

    it("names the issuing key by the CA's subject key identifier", () => {
      const extension = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
      expect(extension?.critical).toBe(false);
      expect(extension?.keyId).toBe(ca.keyIdentifier);
      expect(extension?.certId).toBeUndefined();
    });

    it('carries these five extensions and no other (nothing is copied from the CSR)', async () => {
      const { csrPem: csrAskingForMore } = await makeCsrWithSubjectAltName('SN-0002');
      const { certificate: issued } = await issueDeviceCertificate(ca, csrAskingForMore);
      expect(issued.extensions.map((extension) => extension.type).sort()).toEqual(
        ['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.35'].sort(),
      );
    });
  });

  describe.each<CsrKeyType>(['ec-p256', 'ec-p384', 'ec-p521', 'rsa-2048'])('with a %s CSR', (keyType) => {
    it("certifies the CSR's subject and public key, byte for byte, signed by the CA", async () => {
      const made = await makeCsr({ commonName: `SN-${keyType}`, extraSubject: 'O=Acme, OU=Plant 7' });
      const csr = new x509.Pkcs10CertificateRequest(made.csrPem);
      const issued = await issueDeviceCertificate(ca, made.csrPem);
      expect(hex(issued.certificate.subjectName.toArrayBuffer())).toBe(hex(csr.subjectName.toArrayBuffer()));
      expect(hex(issued.certificate.publicKey.rawData)).toBe(hex(csr.publicKey.rawData));
      expect(issued.certificate.issuer).toBe(ca.certificate.subject);
      await expect(
        issued.certificate.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }),
      ).resolves.toBe(true);
    });
  });

  it('is valid from five minutes before issue until 2049-12-31T23:59:59Z, as AWS IoT makes them', () => {
    expect(certificate.notBefore.toISOString()).toBe('2026-03-01T09:55:00.000Z');
    expect(certificate.notAfter.toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(DEVICE_CERTIFICATE_NOT_AFTER.toISOString()).toBe('2049-12-31T23:59:59.000Z');
  });

  it('ends with its CA when the CA ends first (a device CA made before it lasted to 2049), so the chain holds', async () => {
    const { ca: shortLivedCa } = await createCa({ commonName: 'older device CA', now: ISSUED_AT, validityYears: 10 });

    const { certificate: issued } = await issueDeviceCertificate(shortLivedCa, csrPem, { now: ISSUED_AT });

    expect(shortLivedCa.certificate.notAfter.toISOString()).toBe('2036-03-01T10:00:00.000Z');
    expect(issued.notAfter.getTime()).toBe(shortLivedCa.certificate.notAfter.getTime());
  });

  it('returns as id the lowercase hex SHA-256 of the certificate DER', () => {
    expect(certificateId).toBe(createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex'));
    expect(certificateId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives each certificate a positive random serial of at most 128 bits', async () => {
    const serials = await Promise.all(
      Array.from({ length: 20 }, async () => (await issueDeviceCertificate(ca, csrPem)).certificate.serialNumber),
    );
    expect(new Set(serials).size).toBe(serials.length);
    for (const serial of serials) {
      const value = BigInt(`0x${serial}`);
      expect(value > 0n && value < 2n ** 128n).toBe(true);
    }
  });

  it('issues a different certificate, with a different id, for the same CSR', async () => {
    const again = await issueDeviceCertificate(ca, csrPem, { now: ISSUED_AT });
    expect(again.certificateId).not.toBe(certificateId);
  });

  describe('refuses', () => {
    const cases: { name: string; csr: () => Promise<string> }[] = [
      { name: 'fail/tampered-subject', csr: () => Promise.resolve(tamper(csrPem, 'SN-0001', 'SN-0009')) },
      { name: 'fail/corrupt-signature', csr: () => Promise.resolve(flipLastByte(csrPem)) },
      { name: 'fail/rsa-1024', csr: async () => (await makeCsr({ commonName: 'SN-1', keyType: 'rsa-1024' })).csrPem },
      { name: 'fail/not-pem', csr: () => Promise.resolve(pemBody(csrPem)) },
      {
        name: 'fail/not-a-csr',
        csr: () => Promise.resolve(ca.certificatePem.replaceAll('CERTIFICATE', 'CERTIFICATE REQUEST')),
      },
      {
        name: 'fail/garbage',
        csr: () => Promise.resolve('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'),
      },
    ];

    it.each(cases)('$name', async ({ csr }) => {
      await expect(issueDeviceCertificate(ca, await csr())).rejects.toBeInstanceOf(CsrRejectedError);
    });

    it('a CSR whose signature does not match its key, saying so', async () => {
      await expect(issueDeviceCertificate(ca, flipLastByte(csrPem))).rejects.toThrow(/signature/);
    });
  });

  // A figure for the report, not a test of speed: it asserts nothing about time. CPU time is printed too,
  // because wall time on a shared machine also counts other processes.
  it('prints how many certificates per second it issues on this machine', async () => {
    const warmUp = 50;
    const count = 300;
    for (let index = 0; index < warmUp; index += 1) {
      await issueDeviceCertificate(ca, csrPem);
    }
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let index = 0; index < count; index += 1) {
      await issueDeviceCertificate(ca, csrPem);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    console.log(
      `issueDeviceCertificate (EC P-256 CSR, sequential): ${(count / wallSeconds).toFixed(0)}/s wall, ` +
        `${(count / cpuSeconds).toFixed(0)} per CPU-second`,
    );
  });
});

/** The same CSR with one byte string inside it replaced by another of the same length. */
function tamper(pem: string, from: string, to: string): string {
  const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
  const at = der.indexOf(Buffer.from(from));
  expect(at).toBeGreaterThan(0);
  Buffer.from(to).copy(der, at);
  return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
}

/** The last byte of a CSR is the last byte of its signature. */
function flipLastByte(pem: string): string {
  const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
}

function pemBody(pem: string): string {
  return Buffer.from(x509.PemConverter.decodeFirst(pem)).toString('base64');
}

async function makeCsrWithSubjectAltName(commonName: string): Promise<{ csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'evil.example' }]),
      new x509.BasicConstraintsExtension(true, undefined, true),
    ],
  });
  return { csrPem: csr.toString('pem') };
}
