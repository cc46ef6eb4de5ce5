/** What every use case is given: the ports and the settings. Built by a composition root. */
import type { CertificateAuthority, Clock, DeviceStore, RandomSource, SecretStore, Telemetry } from './ports.ts';

export interface CoreSettings {
  /** Default registration-token lifetime. */
  readonly tokenTtlSeconds: number;
  /** Wrong tokens after which a device is locked until an admin resets it. */
  readonly maxFailedAttempts: number;
  /**
   * How long a claim on a device lasts. Longer than the longest request (Lambda timeout), so a live
   * request is never overtaken; a crashed one is cleaned up by the first request after it expires.
   */
  readonly leaseSeconds: number;
  /** Time a request may spend retrying throttled calls before it answers `Throttled`. */
  readonly requestBudgetMs: number;
  /** Extra time compensation may take after the budget: undoing matters more than answering fast. */
  readonly compensationBudgetMs: number;
  /** Prefix of thing names that default to the serial number. */
  readonly thingNamePrefix: string;
  /** How far back the reconciler looks for orphaned certificates (it runs hourly, so a day is plenty). */
  readonly reconcileLookBackHours: number;
  /** How long a rotated device has to confirm its new certificate before it is revoked (rolled back). */
  readonly rotationWindowSeconds: number;
}

export const DEFAULT_SETTINGS: CoreSettings = {
  tokenTtlSeconds: 7 * 24 * 3600,
  maxFailedAttempts: 5,
  leaseSeconds: 60,
  requestBudgetMs: 12_000,
  compensationBudgetMs: 8_000,
  thingNamePrefix: '',
  reconcileLookBackHours: 48,
  rotationWindowSeconds: 7 * 24 * 3600,
};

/** Bounds on tokenTtlSeconds an admin may ask for: a minute to a year. */
export const TOKEN_TTL_BOUNDS = { min: 60, max: 365 * 24 * 3600 } as const;

/**
 * Bounds on the rotation window of a deployment: from a minute (the sweep runs on a schedule) to a year. The local
 * stack, whose sweep runs every few seconds, allows windows from a second, to try a rollback by hand.
 */
export const ROTATION_WINDOW_BOUNDS = { min: 60, max: 365 * 24 * 3600 } as const;
export const LOCAL_ROTATION_WINDOW_BOUNDS = { min: 1, max: ROTATION_WINDOW_BOUNDS.max } as const;

export interface CoreContext {
  readonly store: DeviceStore;
  readonly secrets: SecretStore;
  readonly authority: CertificateAuthority;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly telemetry: Telemetry;
  readonly settings: CoreSettings;
}
