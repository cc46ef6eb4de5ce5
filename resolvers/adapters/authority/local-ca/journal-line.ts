/**
 * The registry's line format, shared by its journal and its snapshot: one version of one record per line, as JSON,
 *
 *     {"kind":"certificate","key":"<certificate id>","record":{…the whole record…}}
 *     {"kind":"thing","key":"SN-0001","record":null}          (the thing was deleted)
 *
 * A line holds the whole record, never a difference, so reading the lines in order and keeping the last one of each
 * record gives the registry as stored: a line read twice, or a snapshot read before lines it already holds, changes
 * nothing.
 */
import { RegistryFileError } from './errors.ts';

export interface JournalEntry {
  readonly kind: string;
  readonly key: string;
  /** The record as stored; undefined: deleted. */
  readonly record: object | undefined;
}

export interface ReadEntry extends JournalEntry {
  /** Length of its line in bytes, newline included. */
  readonly bytes: number;
}

export interface ReadLines {
  readonly entries: ReadEntry[];
  /** Bytes of the whole lines read: where a torn last line began, else the length of the content. */
  readonly wholeLength: number;
}

const NEWLINE = 0x0a;

/** The entry as one line, newline included. */
export function encodeEntry(entry: JournalEntry): Buffer {
  return Buffer.from(`${JSON.stringify({ kind: entry.kind, key: entry.key, record: entry.record ?? null })}\n`, 'utf8');
}

/**
 * The entries of a file's `content`. With `lastLine: 'may be torn'` (an append-only file a killed process may have
 * left mid-write) a last line without its newline, or not a valid entry, is left out of `wholeLength`; anything
 * else that is not a valid entry throws a RegistryFileError naming `file` and the line.
 */
export function readEntries(
  content: Buffer,
  file: string,
  kinds: ReadonlySet<string>,
  lastLine: 'may be torn' | 'must be whole',
): ReadLines {
  const entries: ReadEntry[] = [];
  let start = 0;
  for (let line = 1; start < content.length; line += 1) {
    const end = content.indexOf(NEWLINE, start);
    const isLast = end === -1 || end === content.length - 1;
    if (end === -1) {
      if (lastLine === 'may be torn') break;
      throw new RegistryFileError(file, line, 'the line has no end (the file was cut short)');
    }
    const parsed = parseEntry(content.toString('utf8', start, end), kinds);
    if (typeof parsed === 'string') {
      if (isLast && lastLine === 'may be torn') break;
      throw new RegistryFileError(file, line, parsed);
    }
    entries.push({ ...parsed, bytes: end + 1 - start });
    start = end + 1;
  }
  return { entries, wholeLength: start };
}

/** The entry on `text`, or why it is none. */
function parseEntry(text: string, kinds: ReadonlySet<string>): JournalEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const { kind, key, record } = value as Record<string, unknown>;
  if (typeof kind !== 'string' || !kinds.has(kind)) return `"kind" is none of ${[...kinds].join(', ')}`;
  if (typeof key !== 'string' || key.length === 0) return '"key" is not a non-empty string';
  if (record === null) return { kind, key, record: undefined };
  if (typeof record !== 'object' || Array.isArray(record)) return '"record" is neither an object nor null';
  return { kind, key, record };
}
