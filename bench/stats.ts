/** Medians, and timing a function until enough samples are taken. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Run `fn` after untimed calls (at least `warmup` of them, and for at least `warmupMs`) until
 * `minMs` have passed and at least `minRuns` runs are in (at most `maxRuns`); returns every
 * run's milliseconds.
 */
export function timeRuns(fn: () => void, { warmup = 2, warmupMs = 0, minRuns = 5, maxRuns = 50, minMs = 400 } = {}): number[] {
  const warm = performance.now();
  for (let i = 0; i < warmup || performance.now() - warm < warmupMs; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < minMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}
