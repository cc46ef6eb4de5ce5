import { beforeAll, describe, expect, it } from 'vitest';
import { caFromPem, createCa, type LocalCa } from '../../../../../../resolvers/adapters/authority/local-ca/local-ca.ts';
import { x509 } from '../../../../../../resolvers/adapters/authority/local-ca/x509.ts';

const CREATED_AT = new Date('2026-03-01T10:00:00Z');

let ca: LocalCa;
let privateKeyPem: string;

beforeAll(async () => {
  ({ ca, privateKeyPem } = await createCa({ commonName: 'cvm test CA', now: CREATED_AT }));
});

describe('createCa', () => {
  it('makes a self-signed ECDSA P-256 certificate named after the common name', async () => {
    expect(ca.certificate.subject).toBe('CN=cvm test CA');
    expect(ca.certificate.issuer).toBe('CN=cvm test CA');
    expect(ca.certificate.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    await expect(ca.certificate.isSelfSigned()).resolves.toBe(true);
  });

  it('is a CA that may sign end-entity certificates only, critically', () => {
    const extension = ca.certificate.getExtension(x509.BasicConstraintsExtension);
    expect(extension?.critical).toBe(true);
    expect(extension?.ca).toBe(true);
    expect(extension?.pathLength).toBe(0);
  });

  it('may sign certificates and CRLs and nothing else, critically', () => {
    const extension = ca.certificate.getExtension(x509.KeyUsagesExtension);
    expect(extension?.critical).toBe(true);
    expect(extension?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  });

  it('carries a subject key identifier, which it exposes for the AKI of what it signs', async () => {
    const extension = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    const expected = Buffer.from(await ca.certificate.publicKey.getKeyIdentifier()).toString('hex');
    expect(extension?.keyId).toBe(expected);
    expect(ca.keyIdentifier).toBe(expected);
  });

  it('is valid for ten years from five minutes before it was made', () => {
    expect(ca.certificate.notBefore.toISOString()).toBe('2026-03-01T09:55:00.000Z');
    expect(ca.certificate.notAfter.toISOString()).toBe('2036-03-01T10:00:00.000Z');
  });

  it('returns its private key as PKCS#8 PEM', () => {
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----$/);
  });
});

describe('caFromPem', () => {
  it('reads back the CA that createCa made', async () => {
    const loaded = await caFromPem(ca.certificatePem, privateKeyPem);
    expect(loaded.certificatePem).toBe(ca.certificatePem);
    expect(loaded.keyIdentifier).toBe(ca.keyIdentifier);
  });

  const failures: { name: string; inputs: () => Promise<[string, string]>; message: RegExp }[] = [
    {
      name: 'fail/key-of-another-ca',
      inputs: async () => [ca.certificatePem, (await createCa({ commonName: 'other' })).privateKeyPem],
      message: /does not belong/,
    },
    {
      name: 'fail/not-a-ca-certificate',
      inputs: async () => [await endEntityCertificatePem(), privateKeyPem],
      message: /not a CA certificate/,
    },
    {
      name: 'fail/no-private-key-block',
      inputs: () => Promise.resolve([ca.certificatePem, ca.certificatePem]),
      message: /PRIVATE KEY/,
    },
  ];

  it.each(failures)('$name', async ({ inputs, message }) => {
    const [certificatePem, keyPem] = await inputs();
    await expect(caFromPem(certificatePem, keyPem)).rejects.toThrow(message);
  });
});

async function endEntityCertificatePem(): Promise<string> {
  const certificate = await x509.X509CertificateGenerator.create({
    subject: 'CN=leaf',
    issuer: ca.certificate.subjectName,
    publicKey: ca.certificate.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return certificate.toString('pem');
}
