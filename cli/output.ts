/** What `cvm` writes: JSON for programs, aligned tables and progress for people. */
import { MultiBar, Presets } from 'cli-progress';

export interface CliOutput {
  write(text: string): unknown;
}

export interface CliTerminal {
  readonly stdout: CliOutput;
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
}

export function printJson(output: CliOutput, value: unknown): void {
  output.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to their widest cell; the last column is not padded so lines carry no trailing spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((text) => `${text}\n`).join('');
}

/** `label: value` lines with the values aligned, skipping absent values. */
export function formatFields(fields: readonly (readonly [string, string | null | undefined])[]): string {
  const present = fields.filter(
    (field): field is readonly [string, string] => field[1] !== null && field[1] !== undefined,
  );
  const width = Math.max(0, ...present.map(([label]) => label.length + 1));
  return present.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}\n`).join('');
}

export interface Progress {
  /** Move the count forward by `amount`. */
  advance(amount: number): void;
  /** A message that must not garble the bar. */
  note(message: string): void;
  stop(): void;
}

/** A bar on a terminal; plain lines otherwise (CI logs, files), which stay readable where a bar would not. */
export function createProgress(terminal: CliTerminal, total: number, unit: string): Progress {
  let done = 0;
  if (terminal.stderr.isTTY === true) {
    const bars = new MultiBar(
      { stream: terminal.stderr, format: `{bar} {value}/{total} ${unit} | {eta_formatted} left`, hideCursor: true },
      Presets.shades_classic,
    );
    const bar = bars.create(total, 0);
    return {
      advance: (amount) => bar.increment(amount),
      note: (message) => bars.log(`${message}\n`),
      stop: () => bars.stop(),
    };
  }
  return {
    advance: (amount) => {
      done += amount;
      terminal.stderr.write(`${done}/${total} ${unit}\n`);
    },
    note: (message) => terminal.stderr.write(`${message}\n`),
    stop: () => undefined,
  };
}
