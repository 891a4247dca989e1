// niceTicks: round steps (1, 2 or 5 × 10^k), covering the range, printed exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceTicks } from './chart.ts';

test('niceTicks: round steps that cover the range, with exact labels', () => {
  assert.deepEqual(niceTicks(0.448, 2.31, 5), { ticks: [0, 0.5, 1, 1.5, 2, 2.5], step: 0.5, decimals: 1 });
  assert.deepEqual(niceTicks(0, 1, 4).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.0312, 0.0563, 4).ticks, [0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06]);
  assert.deepEqual(niceTicks(1, 4637, 5).ticks, [0, 1000, 2000, 3000, 4000, 5000]);
  // Floating-point noise never reaches a label: 0.1 + 0.2 prints as 0.3.
  assert.deepEqual(niceTicks(0, 0.3, 3).ticks, [0, 0.1, 0.2, 0.3]);
  // A flat series still gets an axis.
  const flat = niceTicks(2.3, 2.3, 4);
  assert.ok(flat.ticks[0] <= 2.3 && flat.ticks[flat.ticks.length - 1] >= 2.3 && flat.ticks.length >= 2);
  for (const [lo, hi] of [[0.563, 0.448], [-3.2, 7.9], [1e-5, 3e-4], [12, 123456]]) {
    const { ticks, step, decimals } = niceTicks(lo, hi, 4);
    const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-9), `step ${step}`);
    assert.ok(ticks[0] <= Math.min(lo, hi) && ticks[ticks.length - 1] >= Math.max(lo, hi), `${ticks} covers ${lo}..${hi}`);
    for (const t of ticks) assert.equal(Number(t.toFixed(decimals)), t);
  }
});
