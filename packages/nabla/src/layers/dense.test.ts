// Dense: the gradient check (input, weight, bias; with and without bias, he and xavier init), the
// init scales, and the shape errors (a 2-D input without a Flatten, bad unit counts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import { Rng } from '../random.ts';
import { Sequential } from '../model/sequential.ts';
import { FLAT_CASES, assertGradients } from '../../../../test/layerCases.ts';
import { Dense } from './dense.ts';
import { ReLU } from './activations.ts';
import { Flatten } from './flatten.ts';

test('Dense (bias, he init) passes the gradient check: input, weight, bias', () => {
  for (const units of [1, 3, 8]) {
    assertGradients(() => new Dense(units), `Dense(${units})`, FLAT_CASES);
  }
});

test('Dense without bias passes the gradient check and has only a weight', () => {
  const layer = new Dense(4, { bias: false });
  layer.build([3], { backend: new JsBackend(), rng: new Rng(0), index: 0 });
  assert.deepEqual(layer.params().map((p) => p.name), ['weight']);
  assertGradients(() => new Dense(4, { bias: false }), 'Dense(4, no bias)', FLAT_CASES);
});

test('Dense with xavier init passes the gradient check', () => {
  assertGradients(() => new Dense(5, { init: 'xavier' }), 'Dense(5, xavier)', FLAT_CASES);
});

test('Dense init scales: he ~ N(0, 2/fanIn), xavier ~ U(±sqrt(6/(fanIn+fanOut)))', () => {
  const fanIn = 200;
  const units = 300;
  const he = new Dense(units, { init: 'he' });
  he.build([fanIn], { backend: new JsBackend(), rng: new Rng(3), index: 0 });
  const w = he.weight.value.data;
  let sum = 0;
  let sq = 0;
  for (const v of w) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / w.length;
  const variance = sq / w.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `he mean ${mean}`);
  assert.ok(Math.abs(variance / (2 / fanIn) - 1) < 0.03, `he variance ${variance}, expected ${2 / fanIn}`);
  assert.deepEqual(he.weight.value.shape, [units, fanIn]);
  assert.ok(he.bias!.value.data.every((v) => v === 0), 'biases start at zero');

  const xa = new Dense(units, { init: 'xavier' });
  xa.build([fanIn], { backend: new JsBackend(), rng: new Rng(3), index: 0 });
  const limit = Math.sqrt(6 / (fanIn + units));
  const wx = xa.weight.value.data;
  let max = 0;
  let sqx = 0;
  for (const v of wx) {
    max = Math.max(max, Math.abs(v));
    sqx += v * v;
  }
  assert.ok(max <= limit, `xavier max |w| ${max} beyond limit ${limit}`);
  assert.ok(max > 0.99 * limit, `xavier max |w| ${max} should come close to ${limit}`);
  // Variance of U(−l, l) is l²/3.
  assert.ok(Math.abs(sqx / wx.length / (limit * limit / 3) - 1) < 0.03);
});

test('shape error: Dense after a 2-D input says "add a Flatten layer" and names the layer index', () => {
  let caught: unknown;
  try {
    new Sequential([new ReLU(), new Dense(10)], { inputShape: [28, 28] });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof NablaError, `expected a NablaError, got ${String(caught)}`);
  const m = caught.message;
  for (const fact of ['layer 1 (Dense)', 'add a Flatten layer', '[28, 28]']) {
    assert.ok(m.includes(fact), `message ${JSON.stringify(m)} lacks ${JSON.stringify(fact)}`);
  }
  // The fix works.
  const model = new Sequential([new Flatten(), new Dense(10)], { inputShape: [28, 28] });
  assert.deepEqual(model.outputShape, [10]);
});

test('shape error: Dense rejects bad unit counts', () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => new Dense(bad), (e: unknown) => e instanceof NablaError && e.message.includes('units'));
  }
});
