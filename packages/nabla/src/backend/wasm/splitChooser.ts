/**
 * Whether a job that may run split over the threads or on the calling thread alone should be
 * split right now, learnt from its own timings. Both ways compute the same parts in the same order
 * (so the same bits); only the time differs, and on a shared machine that changes from minute to
 * minute: the other core may be busy with another process, or slow for a while (measured in
 * docs/bench-runs.md, "One slow core at a time"), and then a split product of a few hundred
 * microseconds waits for it.
 *
 * The jobs that touch one layer's weights (its forward, its weight gradient, its update: one key,
 * the weights' size) share one choice, because splitting pays only when all of them are split
 * (each thread then keeps its own part of W in the forward and of X in the gradient: see
 * wasmBackend's gemm). What counts is the whole training step, not
 * the jobs alone: split, the step's other work slows too (the batch gathered on this thread was
 * read by the other core), so a call's time is the time since the previous call of its key ended.
 *
 * A key alternates between trials and stretches. A trial runs BLOCKS blocks of BLOCK calls, split
 * and alone by turns, so that both ways meet the same minute of the machine; the first SETTLE
 * calls of each block are not counted (after a switch the weights are still in the other core's
 * cache), nor calls over 3× the median (a pause between epochs, a collection). The way with the
 * lower mean then runs for a stretch of STRETCH calls, and the next trial follows. BLOCK and
 * SETTLE are multiples of 3 and 4, so each block holds whole batches of a layer's 3 or 4 calls.
 * A key starts split for WARMUP calls that decide nothing, then its first trial. Those are the
 * calls of V8's tier-up (the MNIST MLP's batches take about 3× their steady time for the first 50
 * and settle after 50 to 150: 480 calls are its first 160 batches). Timed during the tier-up, the
 * first trial compared the split blocks (the first one at the very start) with alone blocks that
 * ran on faster code, so it chose alone; that choice then held for 1,536 batches, past the first
 * epoch of the bench's warm-up (measured, 2 threads: split 112–134 µs a call in steady state
 * against 127–147 alone, yet a first trial chose alone, from means of 229 against 165).
 */
const BLOCK = 48;
const BLOCKS = 8;
const SETTLE = 12;
const STRETCH = 4608;
const WARMUP = 480;

interface Choice {
  split: boolean;
  /** Calls of this key since its current trial or stretch (or its warm-up) began. */
  call: number;
  trial: boolean;
  /** The key's first calls, before its first trial. */
  warming: boolean;
  /** When the last call of this key ended (performance.now()). */
  last: number;
  /** Counted call times of the trial: split, alone. */
  times: [number[], number[]];
}

export class SplitChooser {
  private readonly keys = new Map<string, Choice>();
  private readonly block: number;
  private readonly blocks: number;
  private readonly settle: number;
  private readonly stretch: number;
  private readonly warmup: number;
  /** How many stretches ran each way, for tests and benchmarks. */
  readonly stats = { splitStretches: 0, aloneStretches: 0 };

  /** Sizes in calls (tests shorten them). */
  constructor(block = BLOCK, blocks = BLOCKS, settle = SETTLE, stretch = STRETCH, warmup = WARMUP) {
    this.block = block;
    this.blocks = blocks;
    this.settle = settle;
    this.stretch = stretch;
    this.warmup = warmup;
  }

  /** Whether the next call of `key` runs split; report when it ended with `record`. */
  split(key: string): boolean {
    let c = this.keys.get(key);
    if (!c) {
      c = { split: true, call: 0, trial: this.warmup === 0, warming: this.warmup > 0, last: 0, times: [[], []] };
      this.keys.set(key, c);
    }
    // In a trial, even blocks run split, odd blocks alone.
    return c.trial ? Math.floor(c.call / this.block) % 2 === 0 : c.split;
  }

  /** The call that `split(key)` just decided ended at `now` (performance.now()). */
  record(key: string, now: number): void {
    const c = this.keys.get(key)!;
    const ms = now - c.last;
    c.last = now;
    if (!c.trial) {
      if (++c.call < (c.warming ? this.warmup : this.stretch)) return;
      c.warming = false;
      c.trial = true;
      c.call = 0;
      return;
    }
    const block = Math.floor(c.call / this.block);
    if (c.call % this.block >= this.settle) c.times[block % 2].push(ms);
    if (++c.call < this.block * this.blocks) return;
    const [split, alone] = c.times;
    c.split = typicalMean(split) <= typicalMean(alone);
    if (c.split) this.stats.splitStretches++;
    else this.stats.aloneStretches++;
    c.trial = false;
    c.call = 0;
    c.times = [[], []];
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
