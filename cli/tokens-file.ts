/**
 * tokens.csv: where `cvm admin import` keeps the registration tokens, the only copy there is.
 * Appended to, never overwritten (a resumed import adds to it), flushed after every batch, created 0600.
 */
import { open, readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { DeviceRegistration } from '../client/types.ts';

export const TOKEN_COLUMNS = ['serialNumber', 'thingName', 'registrationToken', 'tokenExpiresAt'] as const;

export interface TokensFile {
  append(registrations: readonly DeviceRegistration[]): Promise<void>;
  close(): Promise<void>;
  /** E.g. an existing file others can read. */
  readonly warnings: readonly string[];
  /** Serials the file already held a token for when it was opened (from earlier runs). */
  readonly serialsWithTokens: ReadonlySet<string>;
}

export async function openTokensFile(file: string): Promise<TokensFile> {
  const handle = await open(file, 'a', 0o600);
  const { size, mode } = await handle.stat();
  const warnings =
    (mode & 0o077) !== 0 ? [`${file} can be read by other users; restrict it with \`chmod 600 ${file}\`.`] : [];
  if (size === 0) await handle.write(stringify([[...TOKEN_COLUMNS]]));
  const serialsWithTokens = size === 0 ? new Set<string>() : await serialsIn(file);
  return {
    warnings,
    serialsWithTokens,
    async append(registrations) {
      if (registrations.length === 0) return;
      const rows = registrations.map((registration) => [
        registration.device.serialNumber,
        registration.device.thingName,
        registration.registrationToken,
        registration.tokenExpiresAt,
      ]);
      await handle.write(stringify(rows));
      await handle.sync();
    },
    close: () => handle.close(),
  };
}

async function serialsIn(file: string): Promise<Set<string>> {
  // With `columns: true` each record maps the header's names to the row's cells; a short row lacks the rest.
  const records = parse<{ readonly serialNumber?: string }>(await readFile(file, 'utf8'), {
    columns: true,
    skip_empty_lines: true,
    relax_column_count: true,
  });
  return new Set(records.flatMap((record) => (record.serialNumber ? [record.serialNumber] : [])));
}
