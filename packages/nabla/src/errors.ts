/**
 * NablaError: the one error type for mistakes a user can fix (bad files, bad flags, shapes that
 * do not fit). It always says what was expected, what was found and a hint, so the CLI can print
 * it as one line without a stack trace.
 *
 * @example
 * throw new NablaError({
 *   where: 'labels file "t10k-labels-idx1-ubyte"',
 *   expected: 'labels in 0..9', found: 'label 12 at index 40', hint: 'is this really MNIST?',
 * });
 */
export class NablaError extends Error {
  readonly where: string;
  readonly expected: string;
  readonly found: string;
  readonly hint: string | undefined;

  constructor(parts: { where: string; expected: string; found: string; hint?: string }) {
    const hint = parts.hint ? ` (hint: ${parts.hint})` : '';
    super(`${parts.where}: expected ${parts.expected}, found ${parts.found}${hint}`);
    this.name = 'NablaError';
    this.where = parts.where;
    this.expected = parts.expected;
    this.found = parts.found;
    this.hint = parts.hint;
  }
}

/** True for errors the user can fix; the CLI prints these without a stack trace. */
export function isNablaError(e: unknown): e is NablaError {
  return e instanceof NablaError;
}
