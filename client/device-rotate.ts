/**
 * Certificate rotation, as a device runs it on the directory `cvm device enroll` wrote: a new key beside the
 * current one, a new certificate for it (renewCertificate, proved with the current key), a check that the new
 * certificate works, confirmation (confirmCertificate, proved with the new key: the server then revokes the old
 * certificate), and the new key and certificate moved into the device's files.
 *
 * Safe against a power cut at every step: each file change is atomic and on disk before the next step, and the
 * files say how far a run got, so running again resumes.
 *
 *   device.*  only          nothing under way: make next.key.pem (kept if it exists: no second key while one waits)
 *   next.key.pem            renew (the same key renewed again gets the same pending certificate) → next.cert.pem,
 *                           next.ca.pem, then next.json, the mark that the renewal is on disk
 *   next.json               check and confirm (confirming again after a lost answer is harmless); if the server
 *                           refuses the confirmation (rolled back past its deadline, replaced), renew again
 *   confirmed               replace device.cert.pem, then device.key.pem, then the CSR, CA and device.json; then
 *                           remove next.json and the other next.* files, next.key.pem last
 *   next.key = device.key   the replacement was under way: finish it
 *
 * Until the confirmation, device.* hold the working pair (the old certificate is not touched). After it, next.key.pem
 * and next.cert.pem hold it until device.key.pem is replaced; from then on device.* do again.
 */
import 'reflect-metadata';
import { X509Certificate, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { confirmCertificate, renewCertificate } from './device-api.ts';
import { createDeviceCsr } from './device-csr.ts';
import { deviceMetadataOf, enrollmentFiles, type DeviceMetadata, type EnrollmentFiles } from './device-enroll.ts';
import {
  generatePrivateKeyPem,
  keyTypeLabel,
  loadOrCreateDeviceKey,
  type DeviceKey,
  type KeyType,
} from './device-key.ts';
import type { DeviceCredentials } from './device-mqtt.ts';
import { GraphqlError, RotationError, isRetryable } from './errors.ts';
import { durableFiles, pathsIn, type DurableFiles } from './files.ts';
import type { GraphqlClient } from './graphql-client.ts';
import { retryWithBackoff, type RetryEvent, type RetryOptions } from './retry.ts';
import { grantProblem, withFinalNewline } from './grant-check.ts';
import type { CertificateCheck } from './rotation-check.ts';
import type { CertificateGrant } from './types.ts';

export interface RotateOptions {
  /** The directory `cvm device enroll --out` wrote. */
  readonly dir: string;
  /** A client with the device API key. */
  readonly client: GraphqlClient;
  /** For a new key; a new key an earlier run left in dir is reused whatever its type. Default ec-p256. */
  readonly keyType?: KeyType;
  /** Whether the new certificate works; it is confirmed only if this resolves. See rotation-check.ts. */
  readonly check: CertificateCheck;
  /** Retries of IssuanceInProgress, Throttled, InternalError and network failures. Default: retry.ts's. */
  readonly retry?: RetryOptions;
  /** Each step once it is done, with what it did, for a person. */
  readonly onStep?: (step: RotationStep) => void;
  /** Notes for a person: retries, warnings, a rotation started again. Never a key. */
  readonly onProgress?: (message: string) => void;
  /** How files are changed; tests inject power cuts here. */
  readonly files?: DurableFiles;
  /** Compared with the pending certificate's deadline. Default: the system clock. */
  readonly now?: () => Date;
}

export const ROTATION_STEPS = ['new key', 'renew', 'check', 'confirm', 'replace files'] as const;
export type RotationStepName = (typeof ROTATION_STEPS)[number];

export interface RotationStep {
  readonly step: RotationStepName;
  readonly detail: string;
}

/** The rotation's files inside the device directory, beside the ones enrollment wrote. */
export const ROTATION_FILES = {
  key: 'next.key.pem',
  csr: 'next.csr.pem',
  certificate: 'next.cert.pem',
  ca: 'next.ca.pem',
  pending: 'next.json',
} as const;

export type RotationFiles = { readonly [name in keyof typeof ROTATION_FILES]: string };

/** What next.json holds: the new certificate's metadata (device.json's shape), its deadline and the old one. */
export interface PendingCertificate extends DeviceMetadata {
  readonly confirmBy: string;
  readonly previousCertificateId: string;
}

export interface RotateResult extends DeviceMetadata {
  /** The certificate the rotation replaced (revoked now); null when an earlier run had already recorded the new one. */
  readonly previousCertificateId: string | null;
  readonly keyType: KeyType;
  /** Absolute paths of the device's files, which now hold the new key and certificate. */
  readonly files: EnrollmentFiles;
}

const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

export function rotationFiles(dir: string): RotationFiles {
  return pathsIn(dir, ROTATION_FILES);
}

interface EnrolledDevice {
  readonly metadata: DeviceMetadata;
  readonly keyPem: string;
}

interface Rotation {
  readonly options: RotateOptions;
  readonly files: DurableFiles;
  readonly device: EnrollmentFiles;
  readonly next: RotationFiles;
  readonly now: () => Date;
  readonly step: (step: RotationStepName, detail: string) => void;
  readonly progress: (message: string) => void;
}

export async function rotateDevice(options: RotateOptions): Promise<RotateResult> {
  const rotation: Rotation = {
    options,
    files: options.files ?? durableFiles,
    device: enrollmentFiles(options.dir),
    next: rotationFiles(options.dir),
    now: options.now ?? (() => new Date()),
    step: (step, detail) => options.onStep?.({ step, detail }),
    progress: options.onProgress ?? (() => undefined),
  };
  const { device, next } = rotation;
  const enrolled = await readEnrolledDevice(device);

  const leftKey = await readIfPresent(next.key);
  if (leftKey !== undefined && samePublicKey(leftKey, enrolled.keyPem)) {
    // An earlier run confirmed and had replaced device.key.pem already: finish what it started.
    const pending = await readPending(next, leftKey);
    rotation.step('new key', `the new key is already the device's key (${device.key})`);
    if (pending !== undefined) await replaceFiles(rotation, pending);
    else await removeRotationFiles(rotation);
    rotation.step('replace files', 'finished the replacement an earlier run had started');
    const metadata = pending ?? (await readEnrolledDevice(device)).metadata;
    const { type } = await loadKey(device.key, DEFAULT_KEY_TYPE);
    return result(rotation, metadata, pending?.previousCertificateId ?? null, type);
  }

  const nextKey = await newKey(rotation, leftKey);
  let pending = await readPending(next, nextKey.pem);
  if (pending !== undefined && pending.previousCertificateId !== enrolled.metadata.certificateId) pending = undefined;
  if (pending !== undefined) {
    rotation.step('renew', `certificate ${short(pending.certificateId)} from an earlier run, ${deadline(pending)}`);
    if (Date.parse(pending.confirmBy) <= rotation.now().getTime()) {
      // Past its deadline: confirmed by that run (its answer lost), or rolled back. Confirming tells which; a
      // rolled-back certificate is revoked, so checking it first would only fail.
      const confirmed = await confirm(rotation, pending, nextKey.pem);
      if (confirmed) return finish(rotation, pending, nextKey.key.type);
      pending = undefined;
    }
  }
  if (pending === undefined) pending = await renew(rotation, enrolled, nextKey);

  for (let renewals = 0; ; renewals += 1) {
    const checked = await rotation.options.check(await candidate(next, pending, nextKey.pem));
    rotation.step('check', checked);
    if (await confirm(rotation, pending, nextKey.pem)) return finish(rotation, pending, nextKey.key.type);
    if (renewals > 0) {
      throw new RotationError(
        'InvalidProof',
        `The server refused to confirm certificate ${pending.certificateId}, renewed just now. Run again; if it ` +
          'fails the same way, ask an administrator to look at the device (`cvm admin show`).',
      );
    }
    pending = await renew(rotation, enrolled, nextKey);
  }
}

const ENROLLED_FILES_MESSAGE =
  'rotation needs the device.json and device.key.pem that `cvm device enroll --out DIR` wrote';

async function readEnrolledDevice(device: EnrollmentFiles): Promise<EnrolledDevice> {
  try {
    const metadata = JSON.parse(await readFile(device.metadata, 'utf8')) as DeviceMetadata;
    const keyPem = await readFile(device.key, 'utf8');
    if (typeof metadata.serialNumber !== 'string' || typeof metadata.certificateId !== 'string') {
      throw new TypeError(`${device.metadata} has no serialNumber or certificateId`);
    }
    return { metadata, keyPem };
  } catch (error) {
    throw new RotationError(
      'NotEnrolled',
      `No enrolled device in ${path.dirname(device.metadata)}: ${ENROLLED_FILES_MESSAGE} (${errorText(error)}).`,
      { cause: error },
    );
  }
}

/** The new key: the one an earlier run left (never a second one while it waits), or a new one, on disk first. */
interface NewKey {
  readonly pem: string;
  readonly key: DeviceKey;
}

async function newKey(rotation: Rotation, leftKey: string | undefined): Promise<NewKey> {
  const { next, options } = rotation;
  const requested = options.keyType ?? DEFAULT_KEY_TYPE;
  let made = false;
  if (leftKey === undefined) {
    try {
      await rotation.files.create(next.key, await generatePrivateKeyPem(requested), 0o600);
      made = true;
    } catch (error) {
      // Another run made one meanwhile: that key is the one to use.
      if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST')) throw error;
    }
  }
  const key = await loadKey(next.key, requested);
  const label = keyTypeLabel(key.type);
  rotation.step(
    'new key',
    made ? `made a new ${label} key in ${next.key}` : `using the ${label} key an earlier run made in ${next.key}`,
  );
  if (key.type !== requested) {
    rotation.progress(
      `Warning: ${keyTypeLabel(requested)} was asked for, but the ${label} key an earlier run made is used: a ` +
        `certificate may already be pending for it. To start over with another key, remove ${next.key} first.`,
    );
  }
  for (const warning of key.warnings) rotation.progress(`Warning: ${warning}`);
  return { pem: await readFile(next.key, 'utf8'), key };
}

async function loadKey(file: string, keyType: KeyType): Promise<DeviceKey> {
  try {
    return await loadOrCreateDeviceKey(file, keyType);
  } catch (error) {
    if (error instanceof Error && 'errorType' in error && error.errorType === 'UnsupportedKey') {
      throw new RotationError('UnsupportedKey', error.message, { cause: error });
    }
    throw error;
  }
}

/** The renewal an earlier run wrote, if it is complete and for this key; otherwise undefined (renew again). */
async function readPending(next: RotationFiles, keyPem: string): Promise<PendingCertificate | undefined> {
  const [json, certificatePem] = await Promise.all([readIfPresent(next.pending), readIfPresent(next.certificate)]);
  if (json === undefined || certificatePem === undefined || (await readIfPresent(next.ca)) === undefined) {
    return undefined;
  }
  try {
    const pending = JSON.parse(json) as PendingCertificate;
    const certificate = new X509Certificate(certificatePem);
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    if (typeof pending.confirmBy !== 'string' || typeof pending.previousCertificateId !== 'string') return undefined;
    return pending;
  } catch {
    return undefined;
  }
}

/** renewCertificate for the new key, proved with the current key; the answer is on disk before this returns. */
async function renew(rotation: Rotation, enrolled: EnrolledDevice, nextKey: NewKey): Promise<PendingCertificate> {
  const { next, options, files } = rotation;
  const { serialNumber, certificateId } = enrolled.metadata;
  const csr = await createDeviceCsr(serialNumber, nextKey.key);
  await files.replace(next.csr, csr, 0o644);
  const signature = proof(enrolled.keyPem, new Uint8Array(new Pkcs10CertificateRequest(csr).rawData));

  let grant: CertificateGrant;
  try {
    grant = await withRetries(rotation, () =>
      renewCertificate(options.client, { serialNumber, certificateId, csr, signature }),
    );
  } catch (error) {
    throw renewalRefused(rotation, enrolled, error);
  }
  if (grant.confirmBy === null) {
    throw new RotationError('InvalidCertificate', 'The server answered the renewal without a deadline (confirmBy).');
  }
  requireCertifiesKey(grant, nextKey.pem);

  const pending: PendingCertificate = {
    ...deviceMetadataOf(grant),
    confirmBy: grant.confirmBy,
    previousCertificateId: certificateId,
  };
  await files.replace(next.certificate, withFinalNewline(grant.certificatePem), 0o644);
  await files.replace(next.ca, withFinalNewline(grant.caCertificatePem), 0o644);
  // Last: its presence says that the renewal is complete on disk.
  await files.replace(next.pending, `${JSON.stringify(pending, null, 2)}\n`, 0o644);
  rotation.step('renew', `certificate ${short(pending.certificateId)} issued, ${deadline(pending)}`);
  return pending;
}

function renewalRefused(rotation: Rotation, enrolled: EnrolledDevice, error: unknown): unknown {
  if (!(error instanceof GraphqlError)) return error;
  const { serialNumber, certificateId } = enrolled.metadata;
  if (error.errorType === 'InvalidProof') {
    return new RotationError(
      'InvalidProof',
      `The server refused the renewal: ${rotation.device.certificate} (certificate ${certificateId}) is not the ` +
        `current certificate of an active device ${serialNumber} there. The device was revoked or reset, or its ` +
        'certificate was changed from elsewhere (another copy of this directory rotated it). The device files are ' +
        `unchanged; an administrator can see which with \`cvm admin show ${serialNumber}\`.`,
      { cause: error },
    );
  }
  if (error.errorType === 'KeyMismatch') {
    return new RotationError(
      'KeyMismatch',
      `An administrator pinned another key for ${serialNumber}'s next certificate: the new key in ` +
        `${rotation.next.key} is not it. Put the pinned key's private key there, or have the pin changed ` +
        `(\`cvm admin pin ${serialNumber}\`), and run again. ${error.message}`,
      { cause: error },
    );
  }
  return error;
}

/**
 * confirmCertificate, proved with the new key. True once the server holds the new certificate as the device's
 * (also when an earlier run had confirmed it); false when it refused (InvalidProof), which removes the pending
 * renewal from disk so that the caller renews again.
 */
async function confirm(rotation: Rotation, pending: PendingCertificate, nextKeyPem: string): Promise<boolean> {
  const { options, next } = rotation;
  const certificateDer = new X509Certificate(await readFile(next.certificate, 'utf8')).raw;
  const signature = proof(nextKeyPem, new Uint8Array(certificateDer));
  try {
    const device = await withRetries(rotation, () =>
      confirmCertificate(options.client, {
        serialNumber: pending.serialNumber,
        certificateId: pending.certificateId,
        signature,
      }),
    );
    if (device.certificateId !== pending.certificateId) {
      throw new RotationError(
        'InvalidCertificate',
        `The server confirmed, but names ${device.certificateId ?? 'no certificate'} as the device's certificate, ` +
          `not ${pending.certificateId}. Nothing was replaced; ask an administrator to look at the device.`,
      );
    }
  } catch (error) {
    if (!(error instanceof GraphqlError && error.errorType === 'InvalidProof')) throw error;
    const past = Date.parse(pending.confirmBy) <= rotation.now().getTime();
    rotation.progress(
      `The server refused to confirm certificate ${short(pending.certificateId)} (InvalidProof): ` +
        (past
          ? `its deadline ${pending.confirmBy} has passed, so it was rolled back (revoked). `
          : 'it is no longer pending: rolled back (the server’s clock may be ahead of this one), or replaced by ' +
            'another renewal. ') +
        'The current certificate still works; renewing again with the same new key.',
    );
    await rotation.files.remove(next.pending);
    await rotation.files.remove(next.certificate);
    await rotation.files.remove(next.ca);
    return false;
  }
  rotation.step(
    'confirm',
    `certificate ${short(pending.certificateId)} is the device's now; ${short(pending.previousCertificateId)} is revoked`,
  );
  return true;
}

async function finish(rotation: Rotation, pending: PendingCertificate, keyType: KeyType): Promise<RotateResult> {
  await replaceFiles(rotation, pending);
  rotation.step(
    'replace files',
    `${path.basename(rotation.device.key)}, ${path.basename(rotation.device.certificate)}, ` +
      `${path.basename(rotation.device.ca)} and ${path.basename(rotation.device.metadata)} hold the new key and certificate`,
  );
  return result(rotation, pending, pending.previousCertificateId, keyType);
}

/**
 * The new pair becomes the device's: certificate first, then key (from then on a re-run knows the replacement was
 * under way), then the CSR, the CA and device.json; then next.json goes, and the other next.* files, the key last.
 */
async function replaceFiles(rotation: Rotation, pending: PendingCertificate): Promise<void> {
  const { files, device, next } = rotation;
  const [certificatePem, keyPem, caPem, csrPem] = await Promise.all([
    readFile(next.certificate, 'utf8'),
    readFile(next.key, 'utf8'),
    readFile(next.ca, 'utf8'),
    readIfPresent(next.csr),
  ]);
  await files.replace(device.certificate, certificatePem, 0o644);
  await files.replace(device.key, keyPem, 0o600);
  if (csrPem !== undefined) await files.replace(device.csr, csrPem, 0o644);
  await files.replace(device.ca, caPem, 0o644);
  const metadata: DeviceMetadata = {
    serialNumber: pending.serialNumber,
    thingName: pending.thingName,
    certificateId: pending.certificateId,
    certificateArn: pending.certificateArn,
    iotEndpoint: pending.iotEndpoint,
    issuedAt: pending.issuedAt,
  };
  await files.replace(device.metadata, `${JSON.stringify(metadata, null, 2)}\n`, 0o644);
  await removeRotationFiles(rotation);
}

async function removeRotationFiles(rotation: Rotation): Promise<void> {
  const { files, next } = rotation;
  for (const file of [next.pending, next.certificate, next.csr, next.ca, next.key]) await files.remove(file);
}

function result(
  rotation: Rotation,
  metadata: DeviceMetadata,
  previousCertificateId: string | null,
  keyType: KeyType,
): RotateResult {
  return {
    serialNumber: metadata.serialNumber,
    thingName: metadata.thingName,
    certificateId: metadata.certificateId,
    certificateArn: metadata.certificateArn,
    iotEndpoint: metadata.iotEndpoint,
    issuedAt: metadata.issuedAt,
    previousCertificateId,
    keyType,
    files: rotation.device,
  };
}

/** The new key and certificate as the device would connect with them. */
async function candidate(next: RotationFiles, pending: PendingCertificate, keyPem: string): Promise<DeviceCredentials> {
  const [certificatePem, caPem] = await Promise.all([readFile(next.certificate, 'utf8'), readFile(next.ca, 'utf8')]);
  return {
    thingName: pending.thingName,
    serialNumber: pending.serialNumber,
    iotEndpoint: pending.iotEndpoint,
    certificatePem,
    keyPem,
    caPem,
  };
}

/** Base64 of a signature over SHA-256(`signed`): ECDSA DER-encoded, or RSA PKCS#1 v1.5, as `openssl dgst -sign`. */
function proof(privateKeyPem: string, signed: Uint8Array): string {
  return sign('sha256', signed, createPrivateKey(privateKeyPem)).toString('base64');
}

function requireCertifiesKey(grant: CertificateGrant, keyPem: string): void {
  const found = grantProblem(grant, createPublicKey(keyPem));
  if (found?.problem === 'unreadable' || found?.problem === 'not a CA') {
    throw new RotationError('InvalidCertificate', `The server returned a certificate that cannot be used.`, {
      cause: found.problem === 'unreadable' ? found.cause : new TypeError('the CA certificate is not a CA'),
    });
  }
  if (found?.problem === 'another key') {
    throw new RotationError(
      'CertificateKeyMismatch',
      `The certificate the server returned (${grant.certificateId}) is not for the new key; it was not written. ` +
        'It is revoked at its deadline unless confirmed.',
    );
  }
}

function samePublicKey(a: string, b: string): boolean {
  try {
    const spki = (pem: string) => createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
    return spki(a).equals(spki(b));
  } catch {
    return false;
  }
}

function withRetries<T>(rotation: Rotation, call: () => Promise<T>): Promise<T> {
  return retryWithBackoff(call, {
    ...rotation.options.retry,
    isRetryable,
    onRetry: (event) => rotation.progress(describeRetry(event)),
  });
}

function describeRetry(event: RetryEvent): string {
  const error = event.error as { errorType?: unknown; message?: unknown };
  const reason = typeof error.errorType === 'string' ? error.errorType : 'Error';
  return `${reason}: ${String(error.message)} Retrying in ${event.delayMs} ms (attempt ${event.attempt + 1} of ${event.attempts}).`;
}

function deadline(pending: PendingCertificate): string {
  return `to be confirmed by ${pending.confirmBy}`;
}

function short(certificateId: string): string {
  return `${certificateId.slice(0, 12)}…`;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
