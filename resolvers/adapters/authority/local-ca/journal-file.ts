/**
 * The registry's journal: a file that only grows by whole lines, each write one append, kept open for the life of
 * the registry.
 *
 * A write that fails part-way is cut off again (truncated back to the last whole write), and until that succeeds no
 * other write lands behind it: so a line is never followed by the torn rest of another, and only the last line of
 * the file can ever be torn, by a killed process. Opening drops such a line and cuts it off.
 *
 * Not flushed: the registry stands in for AWS IoT on a developer's machine, where a killed process is common (the
 * written lines are in the kernel's cache and survive it) and a power cut is not; flushing every write would make
 * enrollment several times slower.
 *
 * A plain file descriptor rather than a FileHandle: node closes a FileHandle it collects, with a warning, and a
 * registry that is never closed (a test's, a killed stack's) should not warn; the descriptor lives until close() or
 * the process's exit.
 */
import { close, ftruncate, open, write } from 'node:fs';
import { readBytesIfPresent } from './atomic-file.ts';
import { readEntries, type ReadEntry } from './journal-line.ts';

/** What the journal does to its open file; node:fs by default. A test passes operations that fail. */
export interface JournalFileOperations {
  /** Writes `bytes` from `offset` at the end of the file; answers how many it wrote, which may be fewer. */
  readonly appendSome: (fd: number, bytes: Buffer, offset: number) => Promise<number>;
  readonly truncate: (fd: number, length: number) => Promise<void>;
}

export const NODE_FILE_OPERATIONS: JournalFileOperations = {
  appendSome: (fd, bytes, offset) =>
    new Promise((resolve, reject) => {
      // Position null: at the end, where O_APPEND puts every write anyway.
      write(fd, bytes, offset, bytes.length - offset, null, (error, written) =>
        error === null ? resolve(written) : reject(error),
      );
    }),
  truncate: (fd, length) =>
    new Promise((resolve, reject) => {
      ftruncate(fd, length, (error) => (error === null ? resolve() : reject(error)));
    }),
};

export interface OpenedJournalFile {
  readonly file: JournalFile;
  /** The whole lines it held, in order. */
  readonly entries: ReadEntry[];
}

export class JournalFile {
  /** Bytes of the whole lines written: the file's length unless a failed write is still to be cut off. */
  private whole: number;
  /** A write failed and what it wrote may still follow the whole lines. */
  private cutOffPending = false;

  private constructor(
    private readonly fd: number,
    length: number,
    private readonly operations: JournalFileOperations,
  ) {
    this.whole = length;
  }

  /** Opens (creating) the journal `path` and reads its entries, cutting off a torn last line. */
  static async open(
    path: string,
    kinds: ReadonlySet<string>,
    operations: JournalFileOperations = NODE_FILE_OPERATIONS,
  ): Promise<OpenedJournalFile> {
    const content = (await readBytesIfPresent(path)) ?? Buffer.alloc(0);
    const { entries, wholeLength } = readEntries(content, path, kinds, 'may be torn');
    const fd = await openForAppending(path);
    const file = new JournalFile(fd, wholeLength, operations);
    try {
      if (wholeLength < content.length) await operations.truncate(fd, wholeLength);
    } catch (error) {
      await file.close();
      throw error;
    }
    return { file, entries };
  }

  /** Bytes of whole lines in the journal. */
  get length(): number {
    return this.whole;
  }

  /** Appends `lines` (whole lines) with one write; on failure, the journal is as it was before (or will be cut back). */
  async append(lines: Buffer): Promise<void> {
    await this.cutOffFailedWrite();
    try {
      for (let offset = 0; offset < lines.length; ) {
        offset += await this.operations.appendSome(this.fd, lines, offset);
      }
    } catch (error) {
      this.cutOffPending = true;
      // If this fails too, the next append tries again before writing.
      await this.cutOffFailedWrite().catch(() => undefined);
      throw error;
    }
    this.whole += lines.length;
  }

  /** Empties the journal, once a snapshot holds all it says. */
  async clear(): Promise<void> {
    this.cutOffPending = true;
    await this.operations.truncate(this.fd, 0);
    this.whole = 0;
    this.cutOffPending = false;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      close(this.fd, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  private async cutOffFailedWrite(): Promise<void> {
    if (!this.cutOffPending) return;
    await this.operations.truncate(this.fd, this.whole);
    this.cutOffPending = false;
  }
}

function openForAppending(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, 'a', 0o600, (error, fd) => (error === null ? resolve(fd) : reject(error)));
  });
}
