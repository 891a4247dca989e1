// BatchNorm1D/2D: the gradient check in training (batch statistics) and evaluation modes, running
// statistics as PyTorch keeps them (and saves them), and the channel / image-input shape errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from '../testing/assertClose.ts';
import { Tensor, type Shape } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { assertGradients, buildLayer } from '../../../../test/layerCases.ts';
import { BatchNorm1D, BatchNorm2D } from './batchNorm.ts';
import { Conv2D } from './conv2d.ts';
import { Flatten } from './flatten.ts';
import type { Layer } from './layer.ts';
import { ReLU } from './activations.ts';
import { Rng } from '../random.ts';
import { defaultBackend } from '../backend/defaultBackend.ts';

test('BatchNorm1D and BatchNorm2D pass the gradient check in training (batch statistics) and evaluation modes', () => {
  assertGradients(() => new BatchNorm1D(), 'BatchNorm1D', [{ inputShape: [3], batch: 4 }]);
  assertGradients(() => new BatchNorm1D(), 'BatchNorm1D on (N, C, L)', [{ inputShape: [2, 5], batch: 2 }]);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D', [{ inputShape: [3, 2, 5], batch: 2 }]);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D 1×1 images', [{ inputShape: [2, 1, 1], batch: 3 }]);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D (evaluation)', [{ inputShape: [2, 3, 3], batch: 2 }], { training: false });
});

test('BatchNorm running statistics follow PyTorch: momentum 0.1, unbiased running_var; evaluation uses them', () => {
  const layer = buildLayer(new BatchNorm1D(), [1]);
  const x = new Tensor([4, 1], Float32Array.from([1, 2, 3, 4]));
  const y = layer.forward(x, true);
  // batch mean 2.5, biased variance 1.25 (normalising), unbiased 5/3 (running_var)
  assertClose(y.data, [1, 2, 3, 4].map((v) => (v - 2.5) / Math.sqrt(1.25 + 1e-5)), { rtol: 1e-6, atol: 1e-6 });
  assertClose(layer.runningMean.data, [0.25], { rtol: 1e-6 });
  assertClose(layer.runningVar.data, [0.9 + 0.1 * (5 / 3)], { rtol: 1e-6 });
  assert.equal(layer.numBatchesTracked.data[0], 1);
  layer.forward(x, true);
  assertClose(layer.runningMean.data, [0.9 * 0.25 + 0.25], { rtol: 1e-6 });
  assert.equal(layer.numBatchesTracked.data[0], 2);
  const before = layer.runningMean.data.slice();
  const ev = layer.forward(new Tensor([1, 1], Float32Array.from([3])), false);
  assertClose(ev.data, [(3 - layer.runningMean.data[0]) / Math.sqrt(layer.runningVar.data[0] + 1e-5)], { rtol: 1e-6 });
  assert.deepEqual(layer.runningMean.data, before, 'evaluation leaves the running statistics alone');
  assert.deepEqual(layer.buffers().map((b) => [b.name, [...b.value.shape], b.dtype ?? 'F32']), [
    ['running_mean', [1], 'F32'], ['running_var', [1], 'F32'], ['num_batches_tracked', [], 'I64'],
  ]);
  assertNablaError(() => layer.forward(new Tensor([1, 1], Float32Array.from([3])), true), ['more than one value per channel', 'batch of 1']);
});

test('bad BatchNorm2D layers are rejected when built: a channel-count mismatch, a flat input', () => {
  const model = (layers: Layer[], inputShape: Shape) => () => new Sequential(layers, { inputShape });
  assertNablaError(model([new Conv2D(8, 3), new BatchNorm2D({ numFeatures: 6 })], [1, 10, 10]),
    ['layer 1 (BatchNorm2D)', '6 channels', '(8 channels)']);
  assertNablaError(model([new Flatten(), new BatchNorm2D()], [1, 4, 4]), ['layer 1 (BatchNorm2D)', 'image input', 'BatchNorm1D']);
});

test('in a model, batch norm does the forward and the backward of the ReLU after it: the same outputs and gradients as each layer\'s own', () => {
  const backend = defaultBackend();
  const build = () => new Sequential([new Conv2D(4, 3), new BatchNorm2D(), new ReLU(), new Conv2D(3, 3), new BatchNorm2D(), new ReLU(), new Flatten()],
    { inputShape: [2, 9, 9], seed: 5, backend });
  const fused = build();
  const plain = build();
  const rng = new Rng(9);
  // Parameters moved off their initial values (γ = 1, β = 0), so that the test does not rest on them.
  const x = new Tensor([5, 2, 9, 9], Float32Array.from({ length: 5 * 2 * 81 }, () => rng.normal()));
  const dyData = Float32Array.from({ length: 5 * 3 * 25 }, () => rng.normal());
  for (const m of [fused, plain]) m.parameters().forEach((p, i) => p.value.data.forEach((v, j, a) => (a[j] = v + 0.1 * Math.sin(i + j))));
  const bn = fused.layers[1];
  let askedForward = 0, askedBackward = 0;
  const askF = bn.forwardThrough.bind(bn);
  bn.forwardThrough = (next) => (askedForward++, askF(next));
  const askB = bn.backwardThrough.bind(bn);
  bn.backwardThrough = (next) => (askedBackward++, askB(next));
  let reluCalls = 0;
  const relu = backend.relu.bind(backend);
  backend.relu = (...a) => (reluCalls++, relu(...a));
  const out = fused.forward(x, true);
  backend.relu = relu;
  fused.backward(new Tensor([5, 3 * 25], dyData));
  assert.equal(askedForward, 1, 'the model asked the batch norm before its forward');
  assert.equal(askedBackward, 1, 'the model asked the batch norm before the ReLU\'s backward');
  assert.equal(reluCalls, 0, 'no ReLU pass of its own');
  // Each layer's own forward and backward, the ReLUs included.
  let a = x;
  for (const layer of plain.layers) a = layer.forward(a, true);
  assert.deepEqual(Array.from(out.data), Array.from(a.data));
  assert.ok(out.data.some((v) => v === 0) && out.data.some((v) => v > 0));
  let d = new Tensor([5, 3 * 25], dyData);
  for (let i = plain.layers.length - 1; i >= 0; i--) d = plain.layers[i].backward(d);
  const grads = (m: Sequential) => m.parameters().map((p) => Array.from(p.grad.data));
  assert.deepEqual(grads(fused), grads(plain));
  assert.ok(grads(fused).flat().some((v) => v !== 0));
  // Asked about any other layer, it declines.
  assert.equal(fused.layers[1].forwardThrough(fused.layers[3]), false);
  assert.equal(fused.layers[1].backwardThrough(fused.layers[3]), false);
});
