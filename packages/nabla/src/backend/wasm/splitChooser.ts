/**
 * Whether a job that may run split over the threads or on the calling thread alone should be
 * split right now, learnt from its own timings. Both ways compute the same parts in the same order
 * (so the same bits); only the time differs, and on a shared machine that changes from minute to
 * minute: the other core may be busy with another process, or slow for a while (measured in
 * docs/bench-runs.md, "One slow core at a time"), and then a split product of a few hundred
 * microseconds waits for it.
 *
 * The jobs that touch one layer's weights (its forward, its weight gradient, its update: one key,
 * the weights' size) share one choice, because splitting pays only when all of them keep each
 * thread on its own rows (see wasmBackend's gemm). What counts is the whole training step, not
 * the jobs alone: split, the step's other work slows too (the batch gathered on this thread was
 * read by the other core), so a call's time is the time since the previous call of its key ended.
 * They are timed in periods of PERIOD calls: the first PROBE calls of a period run the other way
 * than the one chosen, the last PROBE the chosen way, and the way with the lower mean time over
 * those samples is chosen for the next period. Left out of each sample: its first SETTLE calls
 * (after a switch the weights are still in the other core's cache), and calls over 3× the
 * sample's median (a pause between epochs, a collection: no verdict on either way). PROBE and
 * SETTLE are multiples of 3 and 4, so each sample holds whole batches of a layer's 3 or 4 calls.
 * A key starts split, with nothing to compare, so its first period probes nothing.
 */
const PERIOD = 576;
const PROBE = 48;
const SETTLE = 12;

interface Choice {
  split: boolean;
  /** Calls of this key in the current period. */
  call: number;
  /** When the last call of this key ended (performance.now()). */
  last: number;
  probed: number[];
  chosen: number[];
}

export class SplitChooser {
  private readonly keys = new Map<string, Choice>();
  /** How many times each way was chosen for a period, for tests and benchmarks. */
  readonly stats = { splitPeriods: 0, alonePeriods: 0 };

  /** Whether the next call of `key` runs split; report its time with `record`. */
  split(key: string): boolean {
    let c = this.keys.get(key);
    if (!c) {
      c = { split: true, call: PROBE, last: 0, probed: [], chosen: [] };
      this.keys.set(key, c);
    }
    return c.call < PROBE ? !c.split : c.split;
  }

  /** The call that `split(key)` just decided ended at `now` (performance.now()). */
  record(key: string, now: number): void {
    const c = this.keys.get(key)!;
    const ms = now - c.last;
    c.last = now;
    if (c.call >= SETTLE && c.call < PROBE) c.probed.push(ms);
    else if (c.call >= PERIOD - PROBE + SETTLE) c.chosen.push(ms);
    if (++c.call < PERIOD) return;
    if (c.probed.length > 0 && typicalMean(c.probed) < typicalMean(c.chosen)) c.split = !c.split;
    if (c.split) this.stats.splitPeriods++;
    else this.stats.alonePeriods++;
    c.call = 0;
    c.probed.length = 0;
    c.chosen.length = 0;
  }
}

/** The mean of the values up to 3× the median. */
function typicalMean(v: number[]): number {
  const limit = 3 * [...v].sort((a, b) => a - b)[v.length >> 1];
  let sum = 0;
  let count = 0;
  for (const x of v) {
    if (x > limit) continue;
    sum += x;
    count++;
  }
  return sum / count;
}
