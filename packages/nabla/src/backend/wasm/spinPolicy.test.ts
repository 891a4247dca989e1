// The kernel workers' spinning policy (spinPolicy.ts): how many jobs a worker sleeps through
// after the OS paused it while it spun.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterSpin, type SpinState } from './spinPolicy.ts';

const LIMITS = { quietFirst: 8, quietMax: 200, calmJobs: 100 };

/** Runs a worker's spins: `paused[i]` for the i-th spin; returns the quiet count after each pause. */
function quietCounts(paused: boolean[]): number[] {
  const s: SpinState = { quiet: 0, next: LIMITS.quietFirst, calm: 0 };
  const out: number[] = [];
  for (const p of paused) {
    afterSpin(s, p, LIMITS);
    if (p) out.push(s.quiet);
  }
  return out;
}

test('pauses that keep coming double the jobs slept through, up to the maximum', () => {
  assert.deepEqual(quietCounts(Array(8).fill(true)), [8, 16, 32, 64, 128, 200, 200, 200]);
  // Still "coming" with fewer than calmJobs calm spins between them.
  const spaced = Array.from({ length: 4 }, () => [...Array(99).fill(false), true]).flat();
  assert.deepEqual(quietCounts(spaced), [8, 16, 32, 64]);
});

test('a lone pause after a calm stretch sleeps through quietFirst jobs only', () => {
  const lone = [true, true, true, ...Array(100).fill(false), true, ...Array(500).fill(false), true];
  assert.deepEqual(quietCounts(lone), [8, 16, 32, 8, 8]);
});
