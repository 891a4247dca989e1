import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SplitChooser } from './splitChooser.ts';

/**
 * Drive `calls` calls of `key` on a clock where a call ends `cost(split, i)` ms after the last
 * (a training step's time, divided among its calls); returns how each call ran.
 */
function drive(chooser: SplitChooser, key: string, calls: number, cost: (split: boolean, call: number) => number, clock = { now: 0 }): boolean[] {
  const ways: boolean[] = [];
  for (let i = 0; i < calls; i++) {
    const split = chooser.split(key);
    ways.push(split);
    clock.now += cost(split, i);
    chooser.record(key, clock.now);
  }
  return ways;
}

// Blocks of 6 calls, 4 blocks a trial, the first 3 calls of a block not counted, stretches of 30,
// no warm-up (the first trial at once).
const small = () => new SplitChooser(6, 4, 3, 30, 0);
const TRIAL = [true, true, true, true, true, true, false, false, false, false, false, false];

test('a trial runs blocks split and alone by turns, then the faster way runs for a stretch, then the next trial', () => {
  const chooser = small();
  const ways = drive(chooser, 'W 100352', 24 + 30 + 24 + 30, (split) => (split ? 0.1 : 0.13));
  assert.deepEqual(ways.slice(0, 24), [...TRIAL, ...TRIAL], 'the first trial');
  assert.ok(ways.slice(24, 54).every((w) => w), 'a stretch split: it was faster');
  assert.deepEqual(ways.slice(54, 78), [...TRIAL, ...TRIAL], 'the next trial');
  assert.deepEqual(chooser.stats, { splitStretches: 2, aloneStretches: 0 });
});

test('when splitting is slower the stretch runs alone, and splitting comes back when it pays again', () => {
  const chooser = small();
  const clock = { now: 0 };
  let ways = drive(chooser, 'W 100352', 24 + 30, (split) => (split ? 0.15 : 0.1), clock);
  assert.ok(ways.slice(24).every((w) => !w), 'alone: a busy other core');
  ways = drive(chooser, 'W 100352', 24 + 30, (split) => (split ? 0.07 : 0.1), clock);
  assert.ok(ways.slice(24).every((w) => w), 'split again: the other core is free');
  assert.deepEqual(chooser.stats, { splitStretches: 1, aloneStretches: 1 });
});

test('the first calls after a switch and single long pauses decide nothing; keys choose apart', () => {
  const chooser = small();
  const clock = { now: 0 };
  // Splitting is faster, but the first 3 calls after each switch to it cost more (the weights
  // are still in this thread's cache); and one split call takes 50 ms (a pause).
  let before = false;
  let since = 0;
  const ways = drive(chooser, 'W 1', 24 + 30, (split, call) => {
    since = split === before ? since + 1 : 0;
    before = split;
    if (call === 16) return 50;
    if (split && since < 3) return 1;
    return split ? 0.08 : 0.1;
  }, clock);
  assert.ok(ways.slice(24).every((w) => w), 'split');
  // Another key, where splitting is slower, chooses on its own.
  const other = drive(chooser, 'W 2', 24 + 30, (split) => (split ? 0.2 : 0.1), clock);
  assert.ok(other.slice(24).every((w) => !w));
  assert.equal(chooser.split('W 1'), true);
});

test('a key runs split through its warm-up (V8\'s tier-up), whose slow calls decide nothing; then its first trial', () => {
  // The first 12 calls are slow (code not yet optimised), slower split (the first calls run split);
  // after that, splitting is faster.
  const cost = (split: boolean, call: number) => (call < 12 ? (split ? 0.4 : 0.3) : split ? 0.1 : 0.13);
  const chooser = new SplitChooser(6, 4, 3, 30, 12);
  const ways = drive(chooser, 'W 100352', 12 + 24 + 30, cost);
  assert.ok(ways.slice(0, 12).every((w) => w), 'warm-up: split');
  assert.deepEqual(ways.slice(12, 36), [...TRIAL, ...TRIAL], 'the first trial, after the warm-up');
  assert.ok(ways.slice(36).every((w) => w), 'split: faster once warm');
  assert.deepEqual(chooser.stats, { splitStretches: 1, aloneStretches: 0 });
  // Without the warm-up the first trial counts the slow split calls and runs its stretch alone.
  const eager = new SplitChooser(6, 4, 3, 30, 0);
  assert.ok(drive(eager, 'W 100352', 24 + 30, cost).slice(24).every((w) => !w));
});
