import 'reflect-metadata';
import { createHash, type webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { inspectCsr, MAX_CSR_PEM_LENGTH } from '../../../../resolvers/core/csr.ts';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import {
  craftCsr,
  DER_NULL,
  hex,
  OID,
  subjectOf,
  TAG,
  tlv,
  utf8,
  withExplicitP256Parameters,
} from '../../../support/crafted-csr.ts';

const SERIAL = 'SN-0001';

type KeySpec = {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
};
const KEYS = {
  'ec-p256': { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ec-p384': { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  'ec-p521': { generate: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } },
  'rsa-2048': { generate: rsa('RSASSA-PKCS1-v1_5', 2048), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-3072-sha384': { generate: rsa('RSASSA-PKCS1-v1_5', 3072, 'SHA-384'), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-1024': { generate: rsa('RSASSA-PKCS1-v1_5', 1024), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-pss-2048': { generate: rsa('RSA-PSS', 2048), sign: { name: 'RSA-PSS', saltLength: 32 } as webcrypto.Algorithm },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
} satisfies Record<string, KeySpec>;

function rsa(name: string, modulusLength: number, hash = 'SHA-256'): webcrypto.RsaHashedKeyGenParams {
  return { name, modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash };
}

const keyCache = new Map<string, webcrypto.CryptoKeyPair>();
async function keysFor(type: keyof typeof KEYS): Promise<webcrypto.CryptoKeyPair> {
  let keys = keyCache.get(type);
  if (!keys) {
    keys = (await crypto.subtle.generateKey(KEYS[type].generate, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    keyCache.set(type, keys);
  }
  return keys;
}

async function csrFor(
  options: { name?: string; key?: keyof typeof KEYS } = {},
): Promise<{ pem: string; spki: ArrayBuffer }> {
  const type = options.key ?? 'ec-p256';
  const keys = await keysFor(type);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.name ?? `CN=${SERIAL}`,
    keys,
    signingAlgorithm: KEYS[type].sign,
  });
  return { pem: csr.toString('pem'), spki: await crypto.subtle.exportKey('spki', keys.publicKey) };
}

async function expectRefusal(pem: string, errorType: string, serial = SERIAL): Promise<CvmError> {
  const error = await inspectCsr(pem, serial).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CvmError);
  expect((error as CvmError).errorType).toBe(errorType);
  return error as CvmError;
}

/** Re-wrap DER bytes as a CSR PEM block. */
function pemOf(der: Uint8Array): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;
}

function derOf(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

describe('inspectCsr', () => {
  describe('accepts the keys AWS IoT accepts', () => {
    it.each([
      ['ec-p256', 'EC P-256'],
      ['ec-p384', 'EC P-384'],
      ['ec-p521', 'EC P-521'],
      ['rsa-2048', 'RSA 2048'],
      ['rsa-3072-sha384', 'RSA 3072'],
    ] as const)('%s', async (key, description) => {
      const { pem, spki } = await csrFor({ key });
      const inspected = await inspectCsr(pem, SERIAL);
      expect(inspected.keyDescription).toBe(description);
      expect(inspected.publicKeyFingerprint).toBe(createHash('sha256').update(Buffer.from(spki)).digest('hex'));
      expect(inspected.pem).toBe(pem);
    });
  });

  it('accepts other subject attributes beside the one CN', async () => {
    const { pem } = await csrFor({ name: `C=DE, O=Acme Devices, CN=${SERIAL}` });
    await expect(inspectCsr(pem, SERIAL)).resolves.toMatchObject({ keyDescription: 'EC P-256' });
  });

  describe('fail/InvalidCsr', () => {
    it.each([
      ['an RSA key under 2048 bits', 'rsa-1024', /RSA 1024/],
      ['an RSA-PSS signature', 'rsa-pss-2048', /algorithm 1\.2\.840\.113549\.1\.1\.10/],
      ['an Ed25519 key', 'ed25519', /algorithm 1\.3\.101\.112/],
    ] as const)('refuses %s', async (_case, key, message) => {
      const { pem } = await csrFor({ key });
      const error = await expectRefusal(pem, 'InvalidCsr');
      expect(error.message).toMatch(message);
    });

    it('refuses a CSR over 4096 characters', async () => {
      const { pem } = await csrFor();
      await expectRefusal(pem + ' '.repeat(MAX_CSR_PEM_LENGTH - pem.length + 1), 'InvalidCsr');
    });

    it('refuses a signature that does not verify (proof of possession)', async () => {
      const { pem } = await csrFor();
      const der = derOf(pem);
      der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
      const error = await expectRefusal(pemOf(der), 'InvalidCsr');
      expect(error.message).toMatch(/signature/);
    });

    it('refuses a CSR whose subject was changed after signing', async () => {
      const original = await csrFor({ name: `CN=${SERIAL}X` });
      const der = derOf(original.pem);
      // Same length, so the structure still parses: only the signature can catch it.
      const index = Buffer.from(der).indexOf(Buffer.from(`${SERIAL}X`));
      der[index + SERIAL.length] = 'Y'.charCodeAt(0);
      await expectRefusal(pemOf(der), 'InvalidCsr');
    });

    it.each([
      ['not PEM at all', 'hello'],
      ['a certificate block', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'],
      ['an empty block', '-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n'],
      ['random bytes', pemOf(new Uint8Array(64).fill(7))],
    ])('refuses %s', async (_case, pem) => {
      await expectRefusal(pem, 'InvalidCsr');
    });

    it('refuses two PEM blocks', async () => {
      const { pem } = await csrFor();
      await expectRefusal(pem + pem, 'InvalidCsr');
    });

    it('refuses trailing bytes after the DER structure', async () => {
      const { pem } = await csrFor();
      const der = derOf(pem);
      await expectRefusal(pemOf(new Uint8Array([...der, 0, 0])), 'InvalidCsr');
    });
  });

  describe('crafted CSRs (signed, byte for byte)', () => {
    it.each(['ec', 'rsa'] as const)(
      'accepts a well-formed %s one, so the refusals below are about the one change',
      async (keyType) => {
        await expect(inspectCsr(craftCsr({ keyType, commonName: SERIAL }), SERIAL)).resolves.toMatchObject({
          keyDescription: keyType === 'ec' ? 'EC P-256' : 'RSA 2048',
        });
      },
    );

    it('refuses a subject attribute whose value is a UTCTime that is no time (the library throws re-encoding it)', async () => {
      const subject = subjectOf(
        [OID.commonName, utf8(SERIAL)],
        [OID.organization, tlv(TAG.utcTime, Buffer.from('Acme'))],
      );
      const error = await expectRefusal(craftCsr({ subject }), 'InvalidCsr');
      expect(error.message).not.toContain('Acme');
    });

    it('refuses a request attribute whose value is a UTCTime that is no time', async () => {
      const challengePassword = hex('06092a864886f70d010907');
      const attribute = tlv(TAG.sequence, challengePassword, tlv(TAG.set, tlv(TAG.utcTime, Buffer.from('junk'))));
      await expectRefusal(craftCsr({ commonName: SERIAL, attributes: [attribute] }), 'InvalidCsr');
    });

    it('refuses an EC key with explicit curve parameters, even for P-256 itself', async () => {
      const pem = craftCsr({ commonName: SERIAL, subjectPublicKeyInfo: withExplicitP256Parameters });
      const error = await expectRefusal(pem, 'InvalidCsr');
      expect(error.message).toMatch(/named curve/);
    });

    it.each([
      ['ECDSA with NULL parameters', 'ec', tlv(TAG.sequence, OID.ecdsaWithSha256, DER_NULL)],
      ['ECDSA with a curve as parameters', 'ec', tlv(TAG.sequence, OID.ecdsaWithSha256, OID.prime256v1)],
      ['RSA PKCS#1 v1.5 without parameters', 'rsa', tlv(TAG.sequence, OID.sha256WithRsa)],
      ['RSA PKCS#1 v1.5 with an empty OCTET STRING', 'rsa', tlv(TAG.sequence, OID.sha256WithRsa, hex('0400'))],
    ] as const)('refuses a signature algorithm of %s', async (_case, keyType, signatureAlgorithm) => {
      const error = await expectRefusal(craftCsr({ keyType, commonName: SERIAL, signatureAlgorithm }), 'InvalidCsr');
      expect(error.message).toMatch(/parameters/);
    });

    it('refuses a CN that is not a string type, even where its encoding spells the serial', async () => {
      // A NumericString "1" is 12 01 31: rendered as hex by the ASN.1 library it would read "120131".
      const subject = subjectOf([OID.commonName, tlv(TAG.numericString, Buffer.from('1'))]);
      await expectRefusal(craftCsr({ subject }), 'CsrSubjectMismatch', '120131');
    });

    it('accepts a CN written as a PrintableString', async () => {
      const subject = subjectOf([OID.commonName, tlv(TAG.printableString, Buffer.from(SERIAL))]);
      await expect(inspectCsr(craftCsr({ subject }), SERIAL)).resolves.toMatchObject({ keyDescription: 'EC P-256' });
    });
  });

  describe('fail/CsrSubjectMismatch', () => {
    it.each([
      ['another serial', 'CN=SN-0002'],
      ['a different case', `CN=${SERIAL.toLowerCase()}`],
      ['a trailing space', `CN=${SERIAL} `],
      ['a prefix', `CN=x${SERIAL}`],
      ['two CNs', `CN=${SERIAL}, CN=${SERIAL}`],
      ['no CN', 'O=Acme'],
    ])('refuses %s', async (_case, name) => {
      const { pem } = await csrFor({ name });
      await expectRefusal(pem, 'CsrSubjectMismatch');
    });
  });

  it('never puts the CSR into an error message', async () => {
    const { pem } = await csrFor({ name: 'CN=SN-OTHER' });
    const error = await expectRefusal(pem, 'CsrSubjectMismatch');
    expect(error.message).not.toContain('BEGIN');
    expect(error.message).not.toContain('SN-OTHER');
  });
});
