/** How the `cvm` command reports failure: one line on stderr and an exit code a script can test. */

export const EXIT_OK = 0;
/** A call failed, or the input could not be used. */
export const EXIT_FAILED = 1;
/** The command line was wrong. */
export const EXIT_USAGE = 2;

/** The command line is wrong in a way the parser cannot see (e.g. neither --local nor --endpoint). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An input file (e.g. the import CSV) cannot be used as it is. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  readonly errorType = 'InvalidInput';
}

/** `admin show` of a serial the API does not know (the `device` query answers null rather than an error). */
export class DeviceNotFoundError extends Error {
  override readonly name = 'DeviceNotFoundError';
  readonly errorType = 'DeviceNotFound';
}

/** `cvm: <errorType>: <message>`, where errorType is the API's (e.g. DeviceNotFound) or the error's name. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `cvm: ${String(error)}`;
  const errorType = 'errorType' in error && typeof error.errorType === 'string' ? error.errorType : error.name;
  return errorType === 'Error' ? `cvm: ${error.message}` : `cvm: ${errorType}: ${error.message}`;
}

/**
 * `admin import` finished, but some registered devices have no token in the tokens file (an earlier run died
 * between the server's answer and the write). The script that ran the import must notice: exit 1.
 */
export class TokensMissingError extends Error {
  override readonly name = 'TokensMissingError';
  readonly errorType = 'TokensMissing';
}
