/**
 * Proofs made the way the README tells a device to make them: with openssl, from the device's key files.
 */
import { execFileSync } from 'node:child_process';
import { constants, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPossessionProof } from '../../../../../resolvers/core/rotation/possession-proof.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cvm-proof-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A key and a self-signed certificate for it, made by openssl. */
function opensslKeyAndCertificate(name: string, keyArgs: string[]): { keyFile: string; certificatePem: string } {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.pem`);
  execFileSync('openssl', ['genpkey', ...keyArgs, '-out', keyFile], { stdio: 'pipe' });
  execFileSync(
    'openssl',
    ['req', '-new', '-x509', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '1', '-out', certFile],
    {
      stdio: 'pipe',
    },
  );
  return { keyFile, certificatePem: readFileSync(certFile, 'utf8') };
}

/** `openssl dgst -sha256 -sign KEY -out SIG DATA`, as base64. */
function opensslProof(keyFile: string, data: Uint8Array): string {
  const dataFile = path.join(dir, 'data.der');
  const sigFile = path.join(dir, 'proof.sig');
  writeFileSync(dataFile, data);
  execFileSync('openssl', ['dgst', '-sha256', '-sign', keyFile, '-out', sigFile, dataFile], { stdio: 'pipe' });
  return readFileSync(sigFile).toString('base64');
}

const signed = new Uint8Array(Buffer.from('the DER of a new CSR, standing in'));

describe.each([
  ['EC P-256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
  ['EC P-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']],
  ['RSA 2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
])('verifyPossessionProof with an openssl %s key', (name, keyArgs) => {
  let key: { keyFile: string; certificatePem: string };
  beforeAll(() => {
    key = opensslKeyAndCertificate(name.replace(/\s/g, '-'), keyArgs);
  });

  it('accepts the proof openssl dgst -sha256 -sign makes', () => {
    expect(verifyPossessionProof(key, signed, opensslProof(key.keyFile, signed))).toBe(true);
  });

  it('accepts it against the bare public key too', () => {
    const publicKey = createPublicKey(key.certificatePem);
    expect(verifyPossessionProof({ publicKey }, signed, opensslProof(key.keyFile, signed))).toBe(true);
  });

  it('refuses the proof for other bytes (a replay against another CSR)', () => {
    const proof = opensslProof(key.keyFile, signed);
    expect(verifyPossessionProof(key, new Uint8Array(Buffer.from('another CSR')), proof)).toBe(false);
  });

  it('refuses a proof made with another key', () => {
    const other = opensslKeyAndCertificate(`${name.replace(/\s/g, '-')}-other`, keyArgs);
    expect(verifyPossessionProof(key, signed, opensslProof(other.keyFile, signed))).toBe(false);
  });
});

describe('verifyPossessionProof refuses what is not a proof', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const good = sign('sha256', signed, { key: privateKey, dsaEncoding: 'der' }).toString('base64');

  it('takes a DER ECDSA signature made by node:crypto', () => {
    expect(verifyPossessionProof({ publicKey }, signed, good)).toBe(true);
  });

  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['not base64', 'not base64!'],
    ['far too long', 'A'.repeat(2000)],
    [
      'a raw r||s ECDSA signature',
      sign('sha256', signed, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64'),
    ],
    [
      'a flipped byte',
      Buffer.from(Buffer.from(good, 'base64').map((b, i) => (i === 10 ? b ^ 1 : b))).toString('base64'),
    ],
  ])('%s', (_case, proof) => {
    expect(verifyPossessionProof({ publicKey }, signed, proof)).toBe(false);
  });

  it('a certificate that cannot be read', () => {
    expect(verifyPossessionProof({ certificatePem: 'not a certificate' }, signed, good)).toBe(false);
  });

  it('an RSA-PSS signature (only PKCS#1 v1.5 is a proof)', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pss = sign('sha256', signed, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING });
    expect(verifyPossessionProof({ publicKey: rsa.publicKey }, signed, pss.toString('base64'))).toBe(false);
  });

  it('a key type that is neither EC nor RSA', () => {
    const ed = generateKeyPairSync('ed25519');
    const proof = sign(null, signed, ed.privateKey).toString('base64');
    expect(verifyPossessionProof({ publicKey: ed.publicKey }, signed, proof)).toBe(false);
  });
});
