import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimPart, homeStart } from './claims.ts';

const HOME = 4;
const TAG = 7 << 8;

/** Control words with every thread's range opened for a job of `parts` parts, as the pool opens them. */
function open(parts: number, threads: number, tag = TAG): Int32Array {
  const ctl = new Int32Array(HOME + threads);
  for (let i = 0; i < threads; i++) ctl[HOME + i] = tag | homeStart(i, parts, threads);
  return ctl;
}

function claimAll(ctl: Int32Array, parts: number, threads: number, me: number, tag = TAG): number[] {
  const got: number[] = [];
  for (let p; (p = claimPart(ctl, HOME, tag, parts, threads, me)) >= 0;) got.push(p);
  return got;
}

test('each thread claims its own range first, in order: part i of every job goes to the same thread', () => {
  // The two threads take turns, as they would when both are on time.
  const ctl = open(7, 2);
  const order: [number, number][] = [];
  for (let turn = 0; turn < 6; turn++) {
    const me = turn % 2;
    const p = claimPart(ctl, HOME, TAG, 7, 2, me);
    if (p >= 0) order.push([me, p]);
  }
  assert.deepEqual(order.filter(([me]) => me === 0).map(([, p]) => p), [0, 1, 2]);
  assert.deepEqual(order.filter(([me]) => me === 1).map(([, p]) => p), [3, 4, 5]);
  // Then thread 0 helps with what is left of thread 1's range, and nothing is claimed twice.
  assert.deepEqual(claimAll(ctl, 7, 2, 0), [6]);
  assert.deepEqual(claimAll(ctl, 7, 2, 1), []);
  // A two-part job: one part each.
  const two = open(2, 2);
  assert.equal(claimPart(two, HOME, TAG, 2, 2, 1), 1);
  assert.equal(claimPart(two, HOME, TAG, 2, 2, 0), 0);
});

test('a thread that never comes leaves its parts to the others; more threads than parts leave some ranges empty', () => {
  assert.deepEqual(claimAll(open(7, 2), 7, 2, 0), [0, 1, 2, 3, 4, 5, 6], 'the caller alone computes every part');
  assert.deepEqual(claimAll(open(7, 2), 7, 2, 1), [3, 4, 5, 6, 0, 1, 2], 'so does a worker alone');
  // 2 parts over 3 threads: ranges [0, 0), [0, 1), [1, 2).
  assert.deepEqual([0, 1, 2, 3].map((i) => homeStart(i, 2, 3)), [0, 0, 1, 2]);
  assert.deepEqual(claimAll(open(2, 3), 2, 3, 0), [0, 1]);
  assert.deepEqual(claimAll(open(2, 3), 2, 3, 2), [1, 0]);
  // 255 parts (the most a job has) over 16 threads: every part exactly once.
  const ctl = open(255, 16);
  const seen = Array.from({ length: 16 }, (_, me) => claimAll(ctl, 255, 16, me)).flat().sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from({ length: 255 }, (_, i) => i));
});

test('no part is claimed under another job\'s tag', () => {
  const ctl = open(4, 2, TAG + 256);
  assert.equal(claimPart(ctl, HOME, TAG, 4, 2, 1), -1, 'a worker still in the last job claims nothing of the new one');
  // The pool closes every range under the new tag before it writes the new arguments.
  ctl.fill(TAG + 256 + 0xff, HOME);
  assert.equal(claimPart(ctl, HOME, TAG + 256, 4, 2, 0), -1);
});
