/**
 * Which thread computes which part of a job. Each thread has a home range of the parts, thread i
 * of T the parts [⌊i·P/T⌋, ⌊(i+1)·P/T⌋), and claims those first, in order; when its own are gone
 * it claims from the next threads' ranges (from their front), so a thread the OS has paused never
 * holds the job up. Part i of every job thus goes to the same thread whenever that thread is on
 * time: a Dense layer's forward, weight gradient and update, cut alike, leave each thread its own
 * rows of the weights, in its own core's cache, from one training step to the next (see
 * wasmBackend's gemm). Which thread computes a part never changes its result.
 *
 * Control words (Int32): thread i's range at `home + i` holds the job's tag · 256 + the next
 * unclaimed part of that range. A claim only succeeds while the word carries the claimer's job
 * tag, so a worker that woke late can never run a newer job's part with stale arguments.
 *
 * NOTE: the workers get `claimPart` as source text (like the op table, see kernelWorker.ts): it
 * must not reference anything outside its own body.
 */

/** First part of thread `i`'s home range. */
export function homeStart(i: number, parts: number, threads: number): number {
  return Math.floor((i * parts) / threads);
}

/**
 * Claim a part of the job tagged `tag` for thread `me`: the next of its own range, else of the
 * next threads' ranges. Returns the part, or −1 when none is left (or a newer job has begun).
 */
export function claimPart(ctl: Int32Array, home: number, tag: number, parts: number, threads: number, me: number): number {
  for (let d = 0; d < threads; d++) {
    const j = (me + d) % threads;
    const end = Math.floor(((j + 1) * parts) / threads);
    for (;;) {
      const cur = Atomics.load(ctl, home + j);
      if ((cur & ~0xff) !== tag) return -1;
      if ((cur & 0xff) >= end) break;
      if (Atomics.compareExchange(ctl, home + j, cur, cur + 1) === cur) return cur & 0xff;
    }
  }
  return -1;
}
