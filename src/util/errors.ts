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
