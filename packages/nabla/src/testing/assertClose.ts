/**
 * assertClose: compare two arrays elementwise with |a − e| ≤ atol + rtol·|e|, and on failure say
 * how bad it is: the worst index, both values, the max difference and the first mismatches.
 *
 * @example
 * assertClose(fast, naive, { rtol: 1e-5, atol: 1e-6, label: 'gemm 33×65×17' });
 */
export interface CloseOptions {
  rtol?: number;
  atol?: number;
  label?: string;
}

/**
 * compareClose's verdict: the worst difference, its index, the mismatch count and a message.
 *
 * @example
 * const { ok, maxAbsDiff }: Comparison = compareClose(a, b);
 */
export interface Comparison {
  ok: boolean;
  maxAbsDiff: number;
  worstIndex: number;
  mismatches: number;
  message: string;
}

/**
 * The comparison without throwing.
 *
 * @example
 * const r = compareClose([1, 2], [1, 2.1], { atol: 0.01 });
 * r.ok; // false; r.message names index 1
 */
export function compareClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {},
): Comparison {
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-6;
  const label = options.label ? `${options.label}: ` : '';
  if (actual.length !== expected.length) {
    return {
      ok: false, maxAbsDiff: Infinity, worstIndex: -1, mismatches: Math.max(actual.length, expected.length),
      message: `${label}length ${actual.length} differs from expected ${expected.length}`,
    };
  }
  let maxAbsDiff = 0;
  let worstIndex = -1;
  let worstExcess = -Infinity;
  const first: string[] = [];
  let mismatches = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const diff = Math.abs(a - e);
    const limit = atol + rtol * Math.abs(e);
    // NaN never compares: a NaN anywhere (on either side unless both) is a mismatch.
    const bad = !(diff <= limit) && !(Number.isNaN(a) && Number.isNaN(e)) && a !== e;
    if (diff > maxAbsDiff || Number.isNaN(diff)) maxAbsDiff = Number.isNaN(diff) ? NaN : Math.max(maxAbsDiff, diff);
    if (bad) {
      mismatches++;
      if (first.length < 5) first.push(`[${i}] ${a} vs ${e}`);
      const excess = Number.isNaN(diff) ? Infinity : diff - limit;
      if (excess > worstExcess) {
        worstExcess = excess;
        worstIndex = i;
      }
    }
  }
  const ok = mismatches === 0;
  const message = ok
    ? `${label}all ${actual.length} values close (max |diff| ${maxAbsDiff})`
    : `${label}${mismatches} of ${actual.length} values differ (rtol ${rtol}, atol ${atol}); ` +
      `worst at index ${worstIndex}: ${actual[worstIndex]} vs expected ${expected[worstIndex]}; ` +
      `max |diff| ${maxAbsDiff}; first: ${first.join(', ')}`;
  return { ok, maxAbsDiff, worstIndex, mismatches, message };
}

/**
 * Throws an Error with a diagnostic message when the arrays are not close.
 *
 * @example
 * assertClose(fast, naive, { rtol: 1e-5, atol: 1e-6, label: 'gemm' });
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): void {
  const r = compareClose(actual, expected, options);
  if (!r.ok) throw new Error(r.message);
}
