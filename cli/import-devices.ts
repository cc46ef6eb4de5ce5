/**
 * Bulk registration from a CSV file, in batches of up to 100 (one registerDevices call each, all or none).
 *
 * Resumable: run the same file again after an interruption. A batch the server refuses with
 * DeviceAlreadyExists is checked serial by serial; serials already registered are skipped (their tokens
 * were written by the earlier run, or need `cvm admin reset`) and the rest are registered.
 */
import { parse } from 'csv-parse/sync';
import { MAX_REGISTER_BATCH, type AdminApi } from '../client/admin-api.ts';
import { GraphqlError } from '../client/errors.ts';
import { retryWithBackoff, type RetryEvent, type RetryOptions } from '../client/retry.ts';
import type { DeviceRegistration, RegisterDeviceInput } from '../client/types.ts';
import { InputFileError } from './errors.ts';

export interface ImportRow {
  readonly serialNumber: string;
  readonly thingName?: string;
  /** PEM public key to pin (the cell holds the PEM itself, in double quotes since it spans lines). */
  readonly publicKey?: string;
}

export interface ImportHooks {
  /**
   * Called once per successful registerDevices call, one call at a time, before that batch's worker sends another:
   * the only chance to keep the tokens.
   */
  readonly onRegistered: (registrations: readonly DeviceRegistration[]) => Promise<void>;
  readonly onSkipped?: (serialNumbers: readonly string[]) => void;
  /** Rows settled (registered or skipped) after each batch. */
  readonly onBatchDone?: (rowsSettled: number) => void;
}

export interface ImportSummary {
  readonly registered: number;
  readonly skipped: readonly string[];
}

const KNOWN_COLUMNS: ReadonlySet<string> = new Set(['serialNumber', 'thingName', 'publicKey']);
const PEM_PUBLIC_KEY_START = '-----BEGIN PUBLIC KEY-----';
/** Rounds of "register, find who exists, drop them" per batch; more means someone keeps registering the same serials. */
const MAX_ROUNDS_PER_BATCH = 3;
/** Concurrent `device` lookups while finding which serials of a refused batch exist. */
const LOOKUP_CONCURRENCY = 10;

/**
 * Parse `serialNumber[,thingName][,publicKey]` with a header row. Rejects unknown columns, empty serials and
 * duplicates. A publicKey cell holds the PEM itself (quoted, line breaks and all), not a file name: the CSV stays
 * one self-contained file a factory can write, and a cell that is not a PEM public key is refused here, by row.
 */
export function parseDeviceCsv(text: string): ImportRow[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true });
  } catch (error) {
    throw new InputFileError(`The CSV cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const header = records.length > 0 ? Object.keys(records[0] ?? {}) : [];
  if (records.length > 0 && !header.includes('serialNumber')) {
    throw new InputFileError('The CSV needs a header row with a serialNumber column (and optionally thingName).');
  }
  const unknown = header.filter((column) => !KNOWN_COLUMNS.has(column));
  if (unknown.length > 0) {
    throw new InputFileError(
      `Unknown CSV column(s): ${unknown.join(', ')}. Expected serialNumber[,thingName][,publicKey].`,
    );
  }
  const seen = new Set<string>();
  return records.map((record, index) => {
    const line = index + 2;
    const serialNumber = record.serialNumber ?? '';
    if (serialNumber === '') throw new InputFileError(`Row ${line} has no serialNumber.`);
    if (seen.has(serialNumber)) throw new InputFileError(`Row ${line} repeats serial number ${serialNumber}.`);
    seen.add(serialNumber);
    const thingName = record.thingName ?? '';
    const publicKey = record.publicKey ?? '';
    if (publicKey !== '' && !publicKey.startsWith(PEM_PUBLIC_KEY_START)) {
      throw new InputFileError(
        `Row ${line}: publicKey must be the PEM itself (${PEM_PUBLIC_KEY_START} …), in double quotes, not a file name.`,
      );
    }
    return {
      serialNumber,
      ...(thingName === '' ? {} : { thingName }),
      ...(publicKey === '' ? {} : { publicKey }),
    };
  });
}

export function planBatches<T>(rows: readonly T[], batchSize: number = MAX_REGISTER_BATCH): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer.');
  const batches: T[][] = [];
  for (let start = 0; start < rows.length; start += batchSize) batches.push(rows.slice(start, start + batchSize));
  return batches;
}

export interface ImportOptions {
  readonly batchSize?: number;
  readonly tokenTtlSeconds?: number;
  /** Serials whose tokens an earlier run already wrote to the tokens file: skipped without asking the API. */
  readonly alreadyHeld?: ReadonlySet<string>;
  /** Backoff for throttled calls (HTTP 429 from the rate limit, or Throttled). Default: 10 tries, up to 60 s apart. */
  readonly retry?: RetryOptions;
  readonly onRetry?: (event: RetryEvent) => void;
  /** registerDevices calls in flight at once. Default 4. */
  readonly concurrency?: number;
}

/**
 * Batches in flight at once: enough to hide the round trip of each call behind the others, few enough that the
 * server (one process locally, a few Lambda containers in AWS) is not flooded; throttling is answered by backoff.
 */
const IMPORT_CONCURRENCY = 4;

/**
 * A throttled call did nothing (WAF refused it, or the server undid its writes), so it is safe to repeat;
 * the waits are long because a rate limit is counted over minutes.
 */
const IMPORT_RETRY = { attempts: 10, baseDelayMs: 2_000, maxDelayMs: 60_000 } as const;

export async function importDevices(
  api: Pick<AdminApi, 'registerDevices' | 'getDevice'>,
  allRows: readonly ImportRow[],
  hooks: ImportHooks,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  let registered = 0;
  const skipped: string[] = [];
  const held = allRows.filter((row) => options.alreadyHeld?.has(row.serialNumber)).map((row) => row.serialNumber);
  if (held.length > 0) {
    skipped.push(...held);
    hooks.onSkipped?.(held);
    hooks.onBatchDone?.(held.length);
  }
  const rows = allRows.filter((row) => !options.alreadyHeld?.has(row.serialNumber));
  const patiently = <T>(call: () => Promise<T>): Promise<T> =>
    retryWithBackoff(call, {
      ...IMPORT_RETRY,
      ...options.retry,
      isRetryable: isThrottled,
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    });
  const lookups: Pick<AdminApi, 'getDevice'> = {
    getDevice: (serialNumber) => patiently(() => api.getDevice(serialNumber)),
  };
  const registerBatch = async (batch: readonly ImportRow[]): Promise<void> => {
    let pending: readonly ImportRow[] = batch;
    for (let round = 1; pending.length > 0; round += 1) {
      try {
        const registrations = await patiently(() =>
          api.registerDevices(pending.map((row) => toInput(row, options.tokenTtlSeconds))),
        );
        await keepTokens(registrations);
        registered += registrations.length;
        break;
      } catch (error) {
        if (!isDeviceAlreadyExists(error) || round >= MAX_ROUNDS_PER_BATCH) throw error;
        const existing = await registeredSerials(lookups, pending);
        // The server says some exist but none do: retrying the same batch would loop, so report its answer.
        if (existing.size === 0) throw error;
        const skippedNow = pending.filter((row) => existing.has(row.serialNumber)).map((row) => row.serialNumber);
        skipped.push(...skippedNow);
        hooks.onSkipped?.(skippedNow);
        pending = pending.filter((row) => !existing.has(row.serialNumber));
      }
    }
    hooks.onBatchDone?.(batch.length);
  };
  // Token writes one after another, in the order the answers arrive: each batch's tokens are kept before its
  // worker moves on, and two batches never interleave in the tokens file.
  let tokensWritten = Promise.resolve();
  const keepTokens = (registrations: readonly DeviceRegistration[]): Promise<void> => {
    tokensWritten = tokensWritten.then(() => hooks.onRegistered(registrations));
    return tokensWritten;
  };

  const queue = planBatches(rows, options.batchSize);
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    // After a failure no new batch starts; batches already sent finish, so their tokens are kept.
    for (let batch = queue.shift(); batch !== undefined && failure === undefined; batch = queue.shift()) {
      try {
        await registerBatch(batch);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? IMPORT_CONCURRENCY, queue.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return { registered, skipped };
}

function toInput(row: ImportRow, tokenTtlSeconds: number | undefined): RegisterDeviceInput {
  return {
    serialNumber: row.serialNumber,
    ...(row.thingName === undefined ? {} : { thingName: row.thingName }),
    ...(row.publicKey === undefined ? {} : { publicKey: row.publicKey }),
    ...(tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds }),
  };
}

function isThrottled(error: unknown): boolean {
  return (error as { errorType?: unknown } | null)?.errorType === 'Throttled';
}

function isDeviceAlreadyExists(error: unknown): boolean {
  return error instanceof GraphqlError && error.errorType === 'DeviceAlreadyExists';
}

async function registeredSerials(
  api: Pick<AdminApi, 'getDevice'>,
  rows: readonly ImportRow[],
): Promise<ReadonlySet<string>> {
  const existing = new Set<string>();
  const queue = rows.map((row) => row.serialNumber);
  const worker = async (): Promise<void> => {
    for (let serialNumber = queue.shift(); serialNumber !== undefined; serialNumber = queue.shift()) {
      if ((await api.getDevice(serialNumber)) !== null) existing.add(serialNumber);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, queue.length) }, worker));
  return existing;
}
