/**
 * What a rotating device does, for tests: enroll, then renew with a proof by its current key and confirm with a
 * proof by the new one. Proofs are made as openssl makes them (ECDSA DER, RSA PKCS#1 v1.5 over SHA-256).
 */
import { X509Certificate, createPrivateKey, sign, webcrypto } from 'node:crypto';
import { expect } from 'vitest';
import { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import type { CoreHarness } from './core-harness.ts';
import { ADMIN } from './core-harness.ts';
import { makeCsr, type MadeCsr } from './csr.ts';
import { registerDevice } from '../../resolvers/core/register-devices.ts';
import { requestCertificate } from '../../resolvers/core/request-certificate.ts';
import { renewCertificate } from '../../resolvers/core/rotation/renew-certificate.ts';
import { confirmCertificate } from '../../resolvers/core/rotation/confirm-certificate.ts';
import type { CertificateGrant } from '../../contract/api-types.ts';

export interface RotatingDevice {
  readonly serial: string;
  /** The key and certificate the device uses now. */
  keys: webcrypto.CryptoKeyPair;
  certificateId: string;
}

/** `openssl dgst -sha256 -sign KEY`, as base64, with a WebCrypto key. */
export async function proofBy(privateKey: webcrypto.CryptoKey, signed: Uint8Array): Promise<string> {
  const key = await nodePrivateKey(privateKey);
  const options = key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'der' as const } : key;
  return sign('sha256', signed, options).toString('base64');
}

async function nodePrivateKey(privateKey: webcrypto.CryptoKey) {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey));
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}

/** A WebCrypto private key as the PKCS#8 PEM a device keeps in its key file. */
export async function privateKeyPem(privateKey: webcrypto.CryptoKey): Promise<string> {
  return (await nodePrivateKey(privateKey)).export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function pemBody(pem: string): Uint8Array {
  const base64 = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

export function certificateDer(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

export async function enrolledRotatingDevice(h: CoreHarness, serial: string): Promise<RotatingDevice> {
  const { registrationToken } = await registerDevice(h.ctx, { serialNumber: serial }, ADMIN);
  const csr = await makeCsr({ commonName: serial });
  const grant = await requestCertificate(h.ctx, { serialNumber: serial, registrationToken, csr: csr.csrPem });
  return { serial, keys: csr.keys, certificateId: grant.certificateId };
}

/** The renewal request a device sends for `next` (a new key's CSR), proved with its current key. */
export async function renewalFor(device: RotatingDevice, next: MadeCsr) {
  return {
    serialNumber: device.serial,
    certificateId: device.certificateId,
    csr: next.csrPem,
    signature: await proofBy(device.keys.privateKey, pemBody(next.csrPem)),
  };
}

export async function renew(h: CoreHarness, device: RotatingDevice, next: MadeCsr): Promise<CertificateGrant> {
  return renewCertificate(h.ctx, await renewalFor(device, next));
}

export async function confirmationFor(device: RotatingDevice, grant: CertificateGrant, next: MadeCsr) {
  return {
    serialNumber: device.serial,
    certificateId: grant.certificateId,
    signature: await proofBy(next.keys.privateKey, certificateDer(grant.certificatePem)),
  };
}

export async function confirm(h: CoreHarness, device: RotatingDevice, grant: CertificateGrant, next: MadeCsr) {
  const view = await confirmCertificate(h.ctx, await confirmationFor(device, grant, next));
  device.keys = next.keys;
  device.certificateId = grant.certificateId;
  return view;
}

/** The device's certificates in the local CA (by subject CN), with their status and attachments. */
export async function certificatesOf(h: CoreHarness, serial: string) {
  const all = await h.localCa.registry.listCertificates();
  return all.filter((certificate) => new PeculiarCertificate(certificate.pem).subjectName.getField('CN')[0] === serial);
}

/**
 * What holds at every moment, even right after a crash: at most two active certificates, each one the record names
 * (its certificate, its rotation's, or one still retiring).
 */
export async function atMostTwoActive(h: CoreHarness, serial: string): Promise<void> {
  const record = await h.table.store.get(serial);
  const named = [
    record?.certificateId,
    record?.rotation?.certificateId,
    ...(record?.retiring ?? []).map((entry) => entry.certificateId),
  ];
  const active = (await certificatesOf(h, serial)).filter((c) => c.status === 'ACTIVE').map((c) => c.id);
  expect(active.length).toBeLessThanOrEqual(2);
  for (const id of active) expect(named).toContain(id);
}

/**
 * The rotation invariants once things settled: at most two active certificates, each one the record names; once
 * no rotation is under way and nothing is retiring, exactly one, the device's; every other certificate REVOKED
 * and detached; nothing unrecorded left.
 */
export async function rotationInvariantsHold(h: CoreHarness, serial: string): Promise<void> {
  await atMostTwoActive(h, serial);
  const record = await h.table.store.get(serial);
  const certificates = await certificatesOf(h, serial);
  const active = certificates.filter((certificate) => certificate.status === 'ACTIVE').map((c) => c.id);
  const named = [record?.certificateId, record?.rotation?.certificateId].filter((id) => id !== undefined);
  if (record?.status === 'ACTIVE' && record.rotation === undefined && record.retiring === undefined) {
    expect(active).toEqual([record.certificateId]);
  }
  for (const certificate of certificates) {
    if (named.includes(certificate.id) || certificate.status !== 'REVOKED') continue;
    expect(certificate, `revoked ${certificate.id} is detached`).toMatchObject({ policies: [], things: [] });
  }
  const unrecorded = certificates.filter((c) => c.status !== 'REVOKED' && !named.includes(c.id));
  expect(unrecorded.map((c) => `${c.id} ${c.status}`)).toEqual([]);
}
