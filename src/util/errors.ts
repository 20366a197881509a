/**
 * An error the user can fix (bad spec, bad raw data, missing file). The CLI prints its message
 * on one line and exits with `exitCode`; it never prints a stack trace for these.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 2,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/**
 * A spec field found wrong only against the data (a column that is not in a table, a split that
 * leaves no positives). Code deep in prepare does not know the spec's file; the caller that does
 * turns it into a UserError naming it (`inFile`).
 */
export class FieldError extends UserError {
  constructor(
    /** Dotted path of the field in the spec, e.g. "entities.target.label.column". */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`dataset spec: ${field}: ${problem}`);
    this.name = "FieldError";
  }

  inFile(file: string): UserError {
    return new UserError(`${file}: ${this.field}: ${this.problem}`);
  }
}

/** Longest message the CLI prints for a user error: one line a terminal shows whole. */
export const MAX_MESSAGE_CHARS = 300;

/** A message as one printable line of at most MAX_MESSAGE_CHARS (control characters become spaces). */
export function oneLine(message: string, max = MAX_MESSAGE_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const line = message.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** A user-supplied name or path quoted in a message, shortened so that it cannot flood the line. */
export function quoted(text: string, max = 60): string {
  return `'${oneLine(text, max)}'`;
}
