/**
 * Enrollment, as a device runs it: make (or reuse) a key, build a CSR with CN = serial, exchange it and the
 * one-time registration token for a certificate, check the certificate is for this key, and write the files
 * the device needs to connect to AWS IoT.
 *
 * Safe to run again after any failure: the key on disk is reused, and the server answers a retry with the
 * same token and the same key with the same certificate.
 */
import 'reflect-metadata';
import { createPublicKey } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { requestCertificate } from './device-api.ts';
import { createDeviceCsr } from './device-csr.ts';
import { keyTypeLabel, loadOrCreateDeviceKey, type KeyType } from './device-key.ts';
import { EnrollmentError, isRetryable } from './errors.ts';
import { pathsIn, writeFileAtomic } from './files.ts';
import { grantProblem, withFinalNewline } from './grant-check.ts';
import type { GraphqlClient } from './graphql-client.ts';
import { retryWithBackoff, type RetryEvent, type RetryOptions } from './retry.ts';
import type { CertificateGrant } from './types.ts';

export interface EnrollOptions {
  readonly serialNumber: string;
  /** The one-time token from registration. Never logged. */
  readonly registrationToken: string;
  /** A client with the device API key. */
  readonly client: GraphqlClient;
  /** For a new key; a key already in outDir is reused whatever its type. Default ec-p256. */
  readonly keyType?: KeyType;
  /** Where the key, CSR, certificate, CA and device.json live. Created with mode 0700. */
  readonly outDir: string;
  /**
   * Retries of IssuanceInProgress, Throttled, InternalError and network failures. Default 30 attempts, 500 ms base,
   * 10 s max: over two minutes of waiting on average, so that a device of a factory burst that the service keeps
   * answering Throttled (1,000 devices take over a minute at AWS IoT's default quota) still gets its turn.
   */
  readonly retry?: RetryOptions;
  /** Human-readable progress lines (never holding the token or the key). */
  readonly onProgress?: (message: string) => void;
}

/** File names inside outDir. */
export const ENROLLMENT_FILES = {
  key: 'device.key.pem',
  csr: 'device.csr.pem',
  certificate: 'device.cert.pem',
  ca: 'ca.pem',
  metadata: 'device.json',
} as const;

export type EnrollmentFiles = { readonly [name in keyof typeof ENROLLMENT_FILES]: string };

/** What device.json holds. */
export interface DeviceMetadata {
  readonly serialNumber: string;
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly iotEndpoint: string | null;
  readonly issuedAt: string;
}

/** What `device.json` records of a grant (everything but the PEMs, which have files of their own). */
export function deviceMetadataOf(grant: CertificateGrant): DeviceMetadata {
  return {
    serialNumber: grant.serialNumber,
    thingName: grant.thingName,
    certificateId: grant.certificateId,
    certificateArn: grant.certificateArn,
    iotEndpoint: grant.iotEndpoint,
    issuedAt: grant.issuedAt,
  };
}

export interface EnrollResult extends DeviceMetadata {
  readonly keyType: KeyType;
  /** True when the key was already in outDir. */
  readonly keyReused: boolean;
  /** Absolute paths of the files written. */
  readonly files: EnrollmentFiles;
}

const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';
const ENROLL_ATTEMPTS = 30;

export async function enrollDevice(options: EnrollOptions): Promise<EnrollResult> {
  const progress = options.onProgress ?? (() => undefined);
  const files = enrollmentFiles(options.outDir);
  await mkdir(options.outDir, { recursive: true, mode: 0o700 });

  const requestedKeyType = options.keyType ?? DEFAULT_KEY_TYPE;
  const key = await loadOrCreateDeviceKey(files.key, requestedKeyType);
  progress(
    key.reused
      ? `Using the ${keyTypeLabel(key.type)} key already in ${files.key}.`
      : `Made a new ${keyTypeLabel(key.type)} key in ${files.key}.`,
  );
  if (key.type !== requestedKeyType) {
    progress(
      `Warning: ${keyTypeLabel(requestedKeyType)} was asked for, but the existing ${keyTypeLabel(key.type)} key is ` +
        'used: a certificate may already be issued for it. Use another output directory for a new key.',
    );
  }
  for (const warning of key.warnings) progress(`Warning: ${warning}`);
  if (key.reused) await assertKeyIsFor(options.serialNumber, files);

  const csr = await createDeviceCsr(options.serialNumber, key);
  await writeFileAtomic(files.csr, csr, 0o644);

  progress(`Requesting a certificate for ${options.serialNumber}.`);
  const grant = await retryWithBackoff(
    () =>
      requestCertificate(options.client, {
        serialNumber: options.serialNumber,
        registrationToken: options.registrationToken,
        csr,
      }),
    {
      attempts: ENROLL_ATTEMPTS,
      ...options.retry,
      isRetryable,
      onRetry: (event) => progress(describeRetry(event)),
    },
  );

  assertCertifiesKey(grant, key.spki);
  const metadata = deviceMetadataOf(grant);
  await writeFileAtomic(files.certificate, withFinalNewline(grant.certificatePem), 0o644);
  await writeFileAtomic(files.ca, withFinalNewline(grant.caCertificatePem), 0o644);
  await writeFileAtomic(files.metadata, `${JSON.stringify(metadata, null, 2)}\n`, 0o644);
  progress(`Certificate ${grant.certificateId} for thing ${grant.thingName} written to ${files.certificate}.`);

  return { ...metadata, keyType: key.type, keyReused: key.reused, files };
}

export function enrollmentFiles(outDir: string): EnrollmentFiles {
  return pathsIn(outDir, ENROLLMENT_FILES);
}

/**
 * One key, one device: a directory whose key was made for another serial (its CSR or device.json says so) must
 * not lend that key to this one, or a factory station reusing one output directory would give every unit the
 * same private key.
 */
async function assertKeyIsFor(serialNumber: string, files: EnrollmentFiles): Promise<void> {
  const owners = new Set<string>();
  const csrPem = await readFile(files.csr, 'utf8').catch(() => undefined);
  if (csrPem !== undefined) {
    try {
      for (const name of new Pkcs10CertificateRequest(csrPem).subjectName.getField('CN')) owners.add(name);
    } catch {
      // An unreadable CSR says nothing about the owner; device.json may.
    }
  }
  const metadata = await readFile(files.metadata, 'utf8').catch(() => undefined);
  if (metadata !== undefined) {
    try {
      const { serialNumber: owner } = JSON.parse(metadata) as { serialNumber?: unknown };
      if (typeof owner === 'string') owners.add(owner);
    } catch {
      // As above.
    }
  }
  const others = [...owners].filter((owner) => owner !== serialNumber);
  if (others.length > 0) {
    throw new EnrollmentError(
      'KeyOfAnotherDevice',
      `The key in ${files.key} was made for device ${others.join(', ')}, not ${serialNumber}. ` +
        'Give each device its own output directory.',
    );
  }
}

/** A certificate for another key (or an unusable CA) would leave the device unable to connect; stop before writing. */
function assertCertifiesKey(grant: CertificateGrant, devicePublicKey: Uint8Array): void {
  const found = grantProblem(
    grant,
    createPublicKey({ key: Buffer.from(devicePublicKey), format: 'der', type: 'spki' }),
  );
  if (found?.problem === 'unreadable') {
    throw new EnrollmentError('InvalidCertificate', 'The server returned a certificate that cannot be read.', {
      cause: found.cause,
    });
  }
  if (found?.problem === 'not a CA') {
    throw new EnrollmentError('InvalidCertificate', 'The CA certificate the server returned is not a CA certificate.');
  }
  if (found?.problem === 'another key') {
    throw new EnrollmentError(
      'CertificateKeyMismatch',
      `The certificate returned for ${grant.serialNumber} (${grant.certificateId}) is not for this device's key; ` +
        'nothing was written.',
    );
  }
}

function describeRetry(event: RetryEvent): string {
  const error = event.error as { errorType?: unknown; message?: unknown };
  const reason = typeof error.errorType === 'string' ? error.errorType : 'Error';
  return `${reason}: ${String(error.message)} Retrying in ${event.delayMs} ms (attempt ${event.attempt + 1} of ${event.attempts}).`;
}
