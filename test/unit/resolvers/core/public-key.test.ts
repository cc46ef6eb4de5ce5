/**
 * The key an admin pins is held to the rules a CSR's key must meet (one implementation, shared with csr.ts), and
 * is named by the same fingerprint the CSR inspection computes. Keys made by openssl, as a factory would.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectCsr } from '../../../../resolvers/core/csr.ts';
import { CvmError } from '../../../../resolvers/core/errors.ts';
import { inspectPublicKeyPem, MAX_PUBLIC_KEY_PEM_LENGTH } from '../../../../resolvers/core/public-key.ts';

const work = mkdtempSync(path.join(tmpdir(), 'cvm-public-key-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let files = 0;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A private key file made by `openssl ecparam -name CURVE -genkey`, and its public key as `openssl pkey -pubout` prints it. */
function opensslEcKey(curve: string): { keyFile: string; publicKeyPem: string } {
  files += 1;
  const keyFile = path.join(work, `ec-${files}.key`);
  openssl('ecparam', '-name', curve, '-genkey', '-noout', '-out', keyFile);
  return { keyFile, publicKeyPem: openssl('pkey', '-in', keyFile, '-pubout') };
}

function rsaPublicKeyPem(modulusLength: number): string {
  return generateKeyPairSync('rsa', { modulusLength }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** SHA-256 of the key's DER as openssl writes it: what an operator can compute on the factory line. */
function opensslFingerprint(publicKeyPem: string): string {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: publicKeyPem });
  return createHash('sha256').update(der).digest('hex');
}

function refusal(pem: unknown): CvmError {
  try {
    inspectPublicKeyPem(pem);
  } catch (error) {
    if (error instanceof CvmError) return error;
    throw error;
  }
  throw new Error('the key was accepted');
}

describe('inspectPublicKeyPem', () => {
  it.each([
    ['prime256v1', 'EC P-256'],
    ['secp384r1', 'EC P-384'],
    ['secp521r1', 'EC P-521'],
  ])('accepts an EC key on %s made by openssl, named by the SHA-256 of its DER', (curve, description) => {
    const { publicKeyPem } = opensslEcKey(curve);
    expect(inspectPublicKeyPem(publicKeyPem)).toEqual({
      publicKeyFingerprint: opensslFingerprint(publicKeyPem),
      keyDescription: description,
    });
  });

  it('accepts an RSA 2048 key', () => {
    const pem = rsaPublicKeyPem(2048);
    expect(inspectPublicKeyPem(pem)).toEqual({
      publicKeyFingerprint: opensslFingerprint(pem),
      keyDescription: 'RSA 2048',
    });
  });

  it('gives the fingerprint the CSR inspection gives for the same key', async () => {
    const { keyFile, publicKeyPem } = opensslEcKey('prime256v1');
    const csr = openssl('req', '-new', '-key', keyFile, '-subj', '/CN=SN-PIN-1');
    const inspected = await inspectCsr(csr, 'SN-PIN-1');
    expect(inspectPublicKeyPem(publicKeyPem).publicKeyFingerprint).toBe(inspected.publicKeyFingerprint);
  });

  it('accepts CRLF line endings and surrounding white space', () => {
    const { publicKeyPem } = opensslEcKey('prime256v1');
    const crlf = `\n  ${publicKeyPem.replace(/\n/g, '\r\n')}\n`;
    expect(inspectPublicKeyPem(crlf).publicKeyFingerprint).toBe(opensslFingerprint(publicKeyPem));
  });

  describe('refuses, as InvalidInput with a message that says why,', () => {
    const p256 = () => opensslEcKey('prime256v1');
    const cases: readonly [string, () => unknown, RegExp][] = [
      ['an RSA 1024 key', () => rsaPublicKeyPem(1024), /RSA 1024; AWS IoT needs RSA keys of at least 2048/],
      ['an EC key on secp256k1', () => opensslEcKey('secp256k1').publicKeyPem, /named curve: P-256, P-384 or P-521/],
      [
        'a P-256 key written with explicit curve parameters',
        () => openssl('ec', '-in', p256().keyFile, '-pubout', '-param_enc', 'explicit'),
        /named curve/,
      ],
      [
        'an Ed25519 key',
        () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        /type 1\.3\.101\.112 is not accepted/,
      ],
      ['a private key', () => openssl('pkey', '-in', p256().keyFile), /one PEM block: -----BEGIN PUBLIC KEY-----/],
      [
        'a CSR',
        () => openssl('req', '-new', '-key', p256().keyFile, '-subj', '/CN=x'),
        /one PEM block: -----BEGIN PUBLIC KEY-----/,
      ],
      ['text that is no PEM', () => 'my key', /one PEM block/],
      ['a number', () => 256, /PEM public key/],
      ['a PEM too long to be a key', () => 'A'.repeat(MAX_PUBLIC_KEY_PEM_LENGTH + 1), /at most 4096 characters/],
      ['an empty PEM block', () => '-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----\n', /PEM block is empty/],
      [
        'a key with a byte after its DER',
        () => {
          const der = createPublicKey(p256().publicKeyPem).export({ type: 'spki', format: 'der' });
          const body = Buffer.concat([der, Buffer.from([0])]).toString('base64');
          return `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----\n`;
        },
        /not DER encoded/,
      ],
      [
        'bytes that are no SubjectPublicKeyInfo',
        () =>
          `-----BEGIN PUBLIC KEY-----\n${Buffer.from('not a key at all').toString('base64')}\n-----END PUBLIC KEY-----\n`,
        /not a valid SubjectPublicKeyInfo/,
      ],
    ];
    it.each(cases)('%s', (_name, make, message) => {
      const error = refusal(make());
      expect(error.errorType).toBe('InvalidInput');
      expect(error.message).toMatch(message);
    });
  });
});
