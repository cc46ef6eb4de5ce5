/** The CSR helper that these tests and the core's tests feed to the CA: it must make what it says. */
import { createHash, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x509 } from '../../../../../../resolvers/adapters/authority/local-ca/x509.ts';
import { makeCsr, type CsrKeyType } from '../../../../../support/csr.ts';

describe('makeCsr', () => {
  it.each<[CsrKeyType, Record<string, unknown>]>([
    ['ec-p256', { name: 'ECDSA', namedCurve: 'P-256' }],
    ['ec-p384', { name: 'ECDSA', namedCurve: 'P-384' }],
    ['ec-p521', { name: 'ECDSA', namedCurve: 'P-521' }],
    ['rsa-2048', { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048 }],
    ['rsa-1024', { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024 }],
  ])('makes a validly signed %s CSR', async (keyType, algorithm) => {
    const made = await makeCsr({ commonName: 'SN-1', keyType });
    const csr = new x509.Pkcs10CertificateRequest(made.csrPem);
    expect(csr.publicKey.algorithm).toMatchObject(algorithm);
    await expect(csr.verify()).resolves.toBe(true);
  });

  it('puts the CN first and the extra subject after it', async () => {
    const csr = new x509.Pkcs10CertificateRequest(
      (await makeCsr({ commonName: 'SN 1', extraSubject: 'O=Acme, CN=x' })).csrPem,
    );
    expect(csr.subject).toBe('CN=SN 1, O=Acme, CN=x');
  });

  it('fingerprints the public key as the SHA-256 of its SPKI DER', async () => {
    const made = await makeCsr({ commonName: 'SN-1' });
    const spki = await webcrypto.subtle.exportKey('spki', made.keys.publicKey);
    expect(made.publicKeyFingerprint).toBe(createHash('sha256').update(Buffer.from(spki)).digest('hex'));
  });

  it.each<CsrKeyType>(['ec-p384', 'rsa-2048'])('signs a new CSR with given %s keys', async (keyType) => {
    const first = await makeCsr({ commonName: 'SN-1', keyType });
    const again = await makeCsr({ commonName: 'SN-1', keys: first.keys });
    expect(again.publicKeyFingerprint).toBe(first.publicKeyFingerprint);
    await expect(new x509.Pkcs10CertificateRequest(again.csrPem).verify()).resolves.toBe(true);
  });
});
