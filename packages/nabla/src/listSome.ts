/**
 * listSome: a list for an error message, capped so a hostile file with 50,000 names still gives a
 * one-line message: the first few items, then "and N more".
 */

/**
 * Join the first `max` items with ", " and say how many were left out.
 *
 * @example
 * listSome(['a', 'b', 'c', 'd', 'e', 'f', 'g']); // 'a, b, c, d, e and 2 more'
 * listSome(['0.weight', '0.bias']);            // '0.weight, 0.bias'
 */
export function listSome(items: readonly string[], max = 5): string {
  // A single name can be hostile too (a megabyte-long tensor name): cut each at 80 characters.
  const shown = items.slice(0, max).map((s) => clip(s)).join(', ');
  return items.length <= max ? shown : `${shown} and ${items.length - max} more`;
}

/**
 * A value from a file, cut to `max` characters for a message ("..." marks the cut).
 *
 * @example
 * clip('x'.repeat(1000)); // 77 x's and '...'
 */
export function clip(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
