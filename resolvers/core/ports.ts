/**
 * The interfaces the core needs from the world. The core imports these and nothing else with I/O;
 * the composition roots (resolvers/lambda.ts, local/) pass real implementations in.
 */
import type { DeviceEvent, DeviceRecord, DeviceStatus, IssuanceLease } from './device.ts';
import type { MetricName } from '../../contract/metrics.ts';

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque to the core; present when more items follow. */
  readonly cursor?: string;
}

/**
 * A claim written without reading the device first (device-lifecycle's `claimWithoutReading` builds it): the
 * store makes the device ISSUING under `lease` (version + 1, `updatedAt` = `now`) only if it is PENDING, unlocked,
 * holds `tokenHash` and its token expires after `now`.
 */
export interface BlindClaim {
  readonly tokenHash: string;
  /** ISO-8601. */
  readonly now: string;
  readonly lease: IssuanceLease;
}

/** What a compare-and-swap did: `won` wrote the record, `lost` found another version and wrote nothing. */
export type SwapOutcome = 'won' | 'lost';

/**
 * Persistence of devices and their events. Every write is a single-item conditional write
 * (no transactions: dynalite has none). A lost condition on `replace` is an outcome; on the other
 * writes it throws ConditionFailedError.
 */
export interface DeviceStore {
  get(serialNumber: string): Promise<DeviceRecord | undefined>;
  /** Many devices at once; unknown serials are simply absent from the answer. */
  getMany(serialNumbers: readonly string[]): Promise<DeviceRecord[]>;
  /** Create a device that must not exist yet. */
  create(record: DeviceRecord): Promise<void>;
  /**
   * Replace a device if its stored version still equals `expectedVersion` (a device that does not exist never
   * matches). The new record must carry version = expectedVersion + 1.
   */
  replace(record: DeviceRecord, expectedVersion: number): Promise<SwapOutcome>;
  /**
   * Apply a claim in one conditional write, without a read before it. Returns the claimed device, or undefined
   * when its conditions do not hold (nothing is written; an unknown serial is refused the same way).
   */
  claim(serialNumber: string, claim: BlindClaim): Promise<DeviceRecord | undefined>;
  /** Delete a device only if its stored version still equals `expectedVersion` (undoing a partial batch). */
  delete(serialNumber: string, expectedVersion: number): Promise<void>;
  /**
   * Reserve a thing name for one device, so that no two devices share a thing (and with it a client id and
   * topics under the device policy). Reserving again for the same serial succeeds; a name held by another
   * serial throws ConditionFailedError.
   */
  reserveThingName(thingName: string, serialNumber: string): Promise<void>;
  /** Give a reservation back (undoing a partial batch); only the serial that holds it can. */
  releaseThingName(thingName: string, serialNumber: string): Promise<void>;
  /**
   * Devices of one status, served by the status index, ordered by serial number.
   * `cursor` is the store's own continuation (the core wraps it into a signed nextToken).
   */
  listByStatus(status: DeviceStatus, limit: number, cursor?: string): Promise<Page<DeviceRecord>>;
  /**
   * Devices with rotation work, served by the sparse rotation index: `ROTATION`, a rotation under way, by its lease
   * expiry or confirmation deadline; `RETIRING`, certificates still to revoke, by when that was decided (device
   * lifecycle's `rotationDueAt`). With `dueBy` (ISO-8601), only those due by then. Soonest first.
   */
  listRotations(
    kind: 'ROTATION' | 'RETIRING',
    options: { readonly limit: number; readonly cursor?: string; readonly dueBy?: string },
  ): Promise<Page<DeviceRecord>>;
  /**
   * Append an event. With `onceKey` (unique per device), the event is written at most once: appending it again
   * with the same key and time does nothing.
   */
  appendEvent(event: DeviceEvent, onceKey?: string): Promise<void>;
  /**
   * Many events at once, unconditionally (each gets a fresh, unique sort key): fewer round trips than one
   * appendEvent each. Events still unwritten after the store's retries throw ThrottledError.
   */
  appendEvents(events: readonly DeviceEvent[]): Promise<void>;
  /** Newest first. */
  listEvents(serialNumber: string, limit: number, cursor?: string): Promise<Page<DeviceEvent>>;
}

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED';

export interface CreatedCertificate {
  /** Lowercase hex SHA-256 of the certificate DER (as AWS IoT computes it). */
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
}

/** A certificate as the authority lists it, without its PEM (AWS IoT: ListCertificates). */
export interface CertificateSummary {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly status: CertificateStatus;
  /** ISO-8601. */
  readonly createdAt: string;
}

/**
 * AWS IoT, or the local CA standing in for it. Both adapters give every outcome the same meaning (the shared
 * contract test, test/integration/resolvers/adapters/authority/authority-contract.test.ts, holds them to it):
 * - undoing what is already undone succeeds: deactivating or revoking a certificate that is already so, or that
 *   no longer exists; deactivating a REVOKED one; detaching what is not attached or does not exist; deleting a
 *   certificate that is already deleted;
 * - a step that needs a certificate or thing that does not exist throws ResourceNotFoundError (attach, activate);
 * - activating a REVOKED certificate throws CertificateRevokedError;
 * - deleting an ACTIVE or attached certificate is refused (an error), never forced;
 * - throttling throws ThrottledError.
 */
export interface CertificateAuthority {
  /** Sign the CSR. The certificate starts INACTIVE so that a crash before it is recorded leaves nothing usable. */
  createCertificate(csrPem: string): Promise<CreatedCertificate>;
  /** Create the thing, or, when it exists, set its attributes to these (the registration is the source of truth). */
  ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void>;
  attachPolicy(certificateArn: string): Promise<void>;
  attachThingPrincipal(thingName: string, certificateArn: string): Promise<void>;
  setCertificateStatus(certificateId: string, status: CertificateStatus): Promise<void>;
  detachPolicy(certificateArn: string): Promise<void>;
  detachThingPrincipal(thingName: string, certificateArn: string): Promise<void>;
  deleteCertificate(certificateId: string): Promise<void>;
  /**
   * Certificates created at or after `since`, newest first, so that the reconciler's cost grows with recent
   * certificates and not with the account's history.
   */
  listRecentCertificates(since: Date): Promise<CertificateSummary[]>;
  /** The PEM of a certificate, or undefined when it no longer exists. */
  certificatePem(certificateId: string): Promise<string | undefined>;
  /** What a device needs to connect: the CA to trust for the endpoint and the endpoint itself (cached). */
  connectionInfo(): Promise<{ caCertificatePem: string; iotEndpoint: string | null }>;
}

export interface Clock {
  now(): Date;
  /** Wait, for backoff. Tests replace it. */
  sleep(ms: number): Promise<void>;
}

export interface RandomSource {
  bytes(length: number): Uint8Array;
}

/** Who is calling: an admin (IAM ARN), a device (API key), or cvm itself on a timer (the rotation sweep). */
export type Caller =
  | { readonly kind: 'admin'; readonly arn: string }
  | { readonly kind: 'device' }
  | { readonly kind: 'system'; readonly name: string };

export type { MetricName } from '../../contract/metrics.ts';

/**
 * Logs and metrics. Implementations write structured JSON. Callers pass only safe fields:
 * never a token, a private key, a CSR or a whole request.
 */
export interface Telemetry {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Readonly<Record<string, unknown>>): void;
  count(metric: MetricName, dimensions?: Readonly<Record<string, string>>): void;
}

/** Secrets the service keeps for itself (the key that signs paging tokens), created once and kept. */
export interface SecretStore {
  /** Return the secret called `name`, storing `fresh` as it the first time (first writer wins). */
  getOrCreate(name: string, fresh: Uint8Array): Promise<Uint8Array>;
}
