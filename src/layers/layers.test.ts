// Layer tests: a central-difference gradient check of every layer (input gradient and every
// parameter gradient), the gradient contract of Layer (dx fresh, parameter gradients added) and
// Keras-style shape errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayerGradients } from '../testing/gradCheck.ts';
import { assertClose } from '../testing/assertClose.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { NablaError } from '../errors.ts';
import { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { Dense } from './dense.ts';
import { ReLU, LeakyReLU, Sigmoid, Tanh, Softmax } from './activations.ts';
import { Flatten } from './flatten.ts';
import { NO_GRAD, type Layer } from './layer.ts';

/** Per-sample input shapes × batch sizes: batch 1, non-square, a prime width. */
const FLAT_CASES: { inputShape: Shape; batch: number }[] = [
  { inputShape: [1], batch: 1 },
  { inputShape: [5], batch: 1 },
  { inputShape: [7], batch: 3 },
  { inputShape: [4], batch: 6 },
];

function assertGradients(make: () => Layer, label: string, cases: { inputShape: Shape; batch: number }[], avoidZero = 0): void {
  for (const { inputShape, batch } of cases) {
    for (const seed of [1, 2]) {
      const layer = make();
      const report = checkLayerGradients(layer, { inputShape, batch, seed, avoidZero });
      const where = `${label}, input [${inputShape.join(', ')}], batch ${batch}, seed ${seed}`;
      assert.ok(report.ok, `${where}\n${report.message}`);
      // Every parameter was checked, plus the input.
      assert.equal(report.results.length, 1 + layer.params().length, where);
      for (const r of report.results) assert.ok(r.result.checked > 0, `${where}: ${r.name} checked nothing`);
    }
  }
}

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

test('ReLU passes the gradient check away from the kink', () => {
  assertGradients(() => new ReLU(), 'ReLU', [...FLAT_CASES, { inputShape: [2, 3], batch: 2 }], 0.05);
});

test('LeakyReLU passes the gradient check away from the kink (default and custom slope)', () => {
  assertGradients(() => new LeakyReLU(), 'LeakyReLU(0.01)', FLAT_CASES, 0.05);
  assertGradients(() => new LeakyReLU(0.2), 'LeakyReLU(0.2)', [...FLAT_CASES, { inputShape: [3, 2], batch: 2 }], 0.05);
});

test('LeakyReLU rejects slopes outside [0, 1)', () => {
  for (const bad of [-0.1, 1, 2, NaN]) {
    assert.throws(() => new LeakyReLU(bad), (e: unknown) => e instanceof NablaError && e.message.includes('slope'));
  }
});

test('Sigmoid passes the gradient check', () => {
  assertGradients(() => new Sigmoid(), 'Sigmoid', [...FLAT_CASES, { inputShape: [2, 3], batch: 2 }]);
});

test('Tanh passes the gradient check', () => {
  assertGradients(() => new Tanh(), 'Tanh', [...FLAT_CASES, { inputShape: [3, 2], batch: 2 }]);
});

test('Softmax passes the gradient check', () => {
  assertGradients(() => new Softmax(), 'Softmax', FLAT_CASES);
});

test('Flatten passes the gradient check and reshapes (N, 2, 3, 2) to (N, 12)', () => {
  assertGradients(() => new Flatten(), 'Flatten', [
    { inputShape: [2, 3], batch: 1 },
    { inputShape: [2, 3, 2], batch: 3 },
    { inputShape: [5], batch: 2 },
  ]);
  const f = new Flatten();
  assert.deepEqual(f.build([2, 3, 2], { backend: new JsBackend(), rng: new Rng(0), index: 0 }), [12]);
  const x = new Tensor([2, 2, 3, 2], Float32Array.from({ length: 24 }, (_, i) => i));
  const y = f.forward(x, false);
  assert.deepEqual(y.shape, [2, 12]);
  assert.deepEqual(Array.from(y.data), Array.from(x.data));
  assert.deepEqual(f.backward(y).shape, [2, 2, 3, 2]);
});

/** A built layer with a random input and output gradient. */
function setup(layer: Layer, inputShape: Shape, n: number, seed = 5): { x: Tensor; dy: Tensor } {
  const rng = new Rng(seed);
  const out = layer.build(inputShape, { backend: new JsBackend(), rng, index: 0 });
  const x = new Tensor([n, ...inputShape]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.normal() + (i % 2 === 0 ? 0.1 : -0.1);
  const dy = new Tensor([n, ...out]);
  for (let i = 0; i < dy.size; i++) dy.data[i] = rng.normal();
  return { x, dy };
}

test('gradient contract: backward twice ADDS into parameter gradients, writes dx fresh', () => {
  const layers: [string, () => Layer][] = [
    ['Dense', () => new Dense(6)],
    ['Dense no bias', () => new Dense(3, { bias: false })],
    ['ReLU', () => new ReLU()],
    ['LeakyReLU', () => new LeakyReLU(0.1)],
    ['Sigmoid', () => new Sigmoid()],
    ['Tanh', () => new Tanh()],
    ['Softmax', () => new Softmax()],
    ['Flatten', () => new Flatten()],
  ];
  for (const [label, make] of layers) {
    const layer = make();
    const { x, dy } = setup(layer, [5], 4);
    layer.forward(x, true);
    const dx1 = layer.backward(dy).data.slice();
    const once = layer.params().map((p) => p.grad.data.slice());
    const dx2 = layer.backward(dy).data.slice();
    const twice = layer.params().map((p) => p.grad.data.slice());
    assert.deepEqual(Array.from(dx2), Array.from(dx1), `${label}: dx must be written fresh, not accumulated`);
    once.forEach((g1, i) => {
      assert.ok(g1.some((v) => v !== 0), `${label}: parameter gradient ${i} is all zeros`);
      const doubled = g1.map((v) => 2 * v);
      // float32 rounding of g + g' with g' the float64 product: equal to 2g up to one rounding.
      assertClose(twice[i], doubled, { rtol: 1e-6, atol: 1e-7, label: `${label} param ${i}: grad after two backward calls` });
    });
  }
});

test('gradient contract: parameter gradients accumulate across different batches (sum of the two)', () => {
  const layer = new Dense(3);
  const a = setup(layer, [4], 2, 1);
  const rng = new Rng(9);
  const x2 = new Tensor([5, 4], Float32Array.from({ length: 20 }, () => rng.normal()));
  const dy2 = new Tensor([5, 3], Float32Array.from({ length: 15 }, () => rng.normal()));
  const gradsOf = (x: Tensor, dy: Tensor) => {
    for (const p of layer.params()) p.grad.data.fill(0);
    layer.forward(x, true);
    layer.backward(dy);
    return layer.params().map((p) => p.grad.data.slice());
  };
  const g1 = gradsOf(a.x, a.dy);
  const g2 = gradsOf(x2, dy2);
  for (const p of layer.params()) p.grad.data.fill(0);
  layer.forward(a.x, true);
  layer.backward(a.dy);
  layer.forward(x2, true);
  layer.backward(dy2);
  layer.params().forEach((p, i) => {
    assertClose(p.grad.data, g1[i].map((v, j) => v + g2[i][j]), { rtol: 1e-5, atol: 1e-6, label: p.name });
  });
});

test('needsInputGrad = false: Dense skips dx but still adds parameter gradients', () => {
  const full = new Dense(4);
  const skip = new Dense(4);
  const a = setup(full, [3], 2);
  setup(skip, [3], 2);
  skip.needsInputGrad = false;
  full.forward(a.x, true);
  const dx = full.backward(a.dy);
  assert.deepEqual(dx.shape, [2, 3]);
  skip.forward(a.x, true);
  const none = skip.backward(a.dy);
  assert.equal(none, NO_GRAD);
  assert.equal(none.size, 0);
  skip.params().forEach((p, i) => assert.deepEqual(Array.from(p.grad.data), Array.from(full.params()[i].grad.data)));
});

test('Sequential marks only its first layer as not needing an input gradient', () => {
  const model = new Sequential([new Dense(4), new ReLU(), new Dense(2)], { inputShape: [3] });
  assert.deepEqual(model.layers.map((l) => l.needsInputGrad), [false, true, true]);
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

test('shape error: Softmax needs a flat input; Dense rejects bad unit counts', () => {
  assert.throws(
    () => new Sequential([new Softmax()], { inputShape: [3, 4] }),
    (e: unknown) => e instanceof NablaError && e.message.includes('layer 0 (Softmax)') && e.message.includes('add a Flatten layer'),
  );
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => new Dense(bad), (e: unknown) => e instanceof NablaError && e.message.includes('units'));
  }
});

test('the gradient check has teeth: a Sigmoid with a 3% wrong derivative, a Dense that drops db, both fail', () => {
  class WrongSigmoid extends Sigmoid {
    override backward(dy: Tensor): Tensor {
      const dx = super.backward(dy);
      for (let i = 0; i < dx.size; i++) dx.data[i] *= 1.03;
      return dx;
    }
  }
  const r1 = checkLayerGradients(new WrongSigmoid(), { inputShape: [4], batch: 2 });
  assert.equal(r1.ok, false);
  assert.equal(r1.results.find((r) => r.name === 'input')!.result.ok, false);

  class NoBiasGrad extends Dense {
    override backward(dy: Tensor): Tensor {
      const saved = this.bias!.grad.data.slice();
      const dx = super.backward(dy);
      this.bias!.grad.data.set(saved);
      return dx;
    }
  }
  const r2 = checkLayerGradients(new NoBiasGrad(3), { inputShape: [4], batch: 2 });
  assert.equal(r2.ok, false);
  assert.deepEqual(r2.results.map((r) => [r.name, r.result.ok]), [['input', true], ['weight', true], ['bias', false]]);
});
