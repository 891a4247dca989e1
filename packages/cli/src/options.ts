/**
 * Flag value parsers for commander: each rejects a bad value with a message that names what was
 * expected (commander adds the flag and the value).
 */
import { InvalidArgumentError } from 'commander';

export function intIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
      throw new InvalidArgumentError(`expected an integer ${range}`);
    }
    return n;
  };
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A parser's message ("expected a number in [0, 1]") as the `expected` part of a NablaError,
 * which adds its own "expected".
 */
export function expectedPart(message: string): string {
  return message.replace(/^expected\s+/, '');
}

export function numberIn(min: number, max: number, { minOpen = false, maxOpen = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    // Plain decimal or scientific notation only: Number() would also take "0x10", "0b1", " 1 ".
    const ok = DECIMAL.test(value) && Number.isFinite(n) &&
      (minOpen ? n > min : n >= min) && (maxOpen ? n < max : n <= max);
    if (!ok) {
      const lo = minOpen ? `(${min}` : `[${min}`;
      const hi = max === Infinity ? '∞)' : maxOpen ? `${max})` : `${max}]`;
      throw new InvalidArgumentError(`expected a number in ${lo}, ${hi}`);
    }
    return n;
  };
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

/** "256,128" → [256, 128]; "" or "none" → [] (no hidden layer). */
export function sizeList(value: string): number[] {
  if (value.trim() === '' || value === 'none') return [];
  const parts = value.split(',').map((s) => s.trim());
  if (!parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) {
    throw new InvalidArgumentError('expected comma-separated positive integers, e.g. 256,128 (or "none")');
  }
  return parts.map(Number);
}
