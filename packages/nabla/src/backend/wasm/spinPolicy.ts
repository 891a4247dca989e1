/**
 * When a kernel worker stops spinning between jobs. A worker spins for the next job (the threaded
 * kernels of a training step come a few hundred microseconds apart) and watches the clock: a spin
 * round that took far longer than a round takes means the OS paused it. A lone pause is the host
 * taking a VM's core for a few milliseconds; pauses that keep coming mean other processes want
 * the cores, and every spin then takes time from this process's own threads. So after a pause the
 * worker sleeps between jobs for `quiet` jobs: `quietFirst` after a calm stretch (at least
 * `calmJobs` jobs spun through without a pause), twice the last count while pauses keep coming,
 * up to `quietMax`. Measured figures: threadPool.ts, WORKER_QUIET_FIRST.
 *
 * NOTE: the workers get `afterSpin` as source text (like `claimPart`, see kernelWorker.ts): it
 * must not reference anything outside its own body.
 */

/** A worker's spinning state: jobs still to sleep through, the next quiet count, jobs spun calmly. */
export interface SpinState {
  quiet: number;
  next: number;
  calm: number;
}

/** The policy's constants (threadPool.ts). */
export interface SpinLimits {
  quietFirst: number;
  quietMax: number;
  calmJobs: number;
}

/**
 * Update `s` after the worker spun for a job: `paused` when the OS paused it during the spin.
 * @example
 * const s = { quiet: 0, next: 8, calm: 0 };
 * afterSpin(s, true, { quietFirst: 8, quietMax: 200, calmJobs: 100 }); // s.quiet === 8, s.next === 16
 */
export function afterSpin(s: SpinState, paused: boolean, limits: SpinLimits): void {
  if (!paused) {
    s.calm++;
    return;
  }
  if (s.calm >= limits.calmJobs) s.next = limits.quietFirst;
  s.quiet = s.next;
  s.next = Math.min(2 * s.next, limits.quietMax);
  s.calm = 0;
}
