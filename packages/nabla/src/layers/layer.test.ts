// The Layer contract, across layers: backward writes dx fresh and ADDS into parameter gradients,
// needsInputGrad = false skips dx (Sequential sets it on its first layer), and the gradient check
// the layer test files rely on has teeth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayerGradients } from '../testing/gradCheck.ts';
import { assertClose } from '../testing/assertClose.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { Dense } from './dense.ts';
import { ReLU, LeakyReLU, Sigmoid, Tanh, Softmax } from './activations.ts';
import { Flatten } from './flatten.ts';
import { NO_GRAD, type Layer } from './layer.ts';

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
