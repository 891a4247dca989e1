import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SplitChooser } from './splitChooser.ts';

/**
 * Drive `calls` calls of `key` on a clock where a call ends `split` or `alone` ms after the last
 * (the step's time divided among its calls); returns how each call ran.
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

test('a key starts split and stays split while splitting is faster, probing the other way a few calls a period', () => {
  const chooser = new SplitChooser();
  // The first period is 528 calls (it probes nothing), the next ones 576.
  const ways = drive(chooser, 'W 100352', 528 + 576 * 3, (split) => (split ? 0.1 : 0.13));
  assert.ok(ways.slice(0, 528).every((w) => w), 'the first period probes nothing');
  const alone = ways.filter((w) => !w).length;
  assert.equal(alone, 48 * 3, 'then 48 calls of each later period run alone');
  assert.deepEqual(chooser.stats, { splitPeriods: 4, alonePeriods: 0 });
});

test('when splitting is slower it runs alone from the period after a probe, and goes back when splitting pays again', () => {
  const chooser = new SplitChooser();
  const clock = { now: 0 };
  // A busy other core: split calls take longer.
  let ways = drive(chooser, 'W 100352', 528 + 576 * 2, (split) => (split ? 0.15 : 0.1), clock);
  assert.ok(ways.slice(528, 528 + 48).every((w) => !w) && ways.slice(528 + 48, 528 + 576).every((w) => w), 'a probe, still split for that period');
  assert.ok(ways.slice(528 + 576 + 48).every((w) => !w), 'alone from the next period');
  // The other core is free again.
  ways = drive(chooser, 'W 100352', 576 * 2, (split) => (split ? 0.07 : 0.1), clock);
  assert.ok(ways.slice(0, 48).every((w) => w) && ways.slice(48, 576).every((w) => !w), 'a probe, still alone for that period');
  assert.ok(ways.slice(576 + 48).every((w) => w), 'split again from the next period');
});

test('the first calls after a switch and single long pauses decide nothing; keys choose apart', () => {
  const chooser = new SplitChooser();
  const clock = { now: 0 };
  // Splitting is faster, but the first 12 calls after each switch to it are slow (the weights
  // are still in the other core's cache), and one call of each sample includes a 50 ms pause.
  let since = 0;
  let before = true;
  const ways = drive(chooser, 'W 1', 528 + 576 * 3, (split, call) => {
    since = split === before ? since + 1 : 0;
    before = split;
    const inPeriod = (call + 48) % 576;
    if (inPeriod === 30 || inPeriod === 560) return 50;
    return split ? (since < 12 ? 0.5 : 0.08) : 0.1;
  }, clock);
  assert.ok(ways.slice(528 + 576 * 2 + 48).every((w) => w), 'still split');
  // Another key, where splitting is slower, chooses on its own.
  drive(chooser, 'W 2', 576 * 2, (split) => (split ? 0.2 : 0.1), clock);
  assert.equal(chooser.split('W 2'), false);
  assert.equal(chooser.split('W 1'), false, 'W 1 is probing at the start of its period');
});
