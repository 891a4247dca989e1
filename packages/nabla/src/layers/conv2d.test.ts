// Conv2D: the gradient check on awkward shapes (stride 2, padding 1, non-square, 1×1), forward
// against the cross-correlation definition, the shape errors raised when a model is built; and two
// whole CNNs: one learns a toy task, one passes the gradient check end to end through Sequential.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from '../testing/gradCheck.ts';
import { lossByName } from '../losses/lossByName.ts';
import { assertClose } from '../testing/assertClose.ts';
import { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';
import { assertGradients, buildLayer } from '../../../../test/layerCases.ts';
import { Conv2D, type Conv2DOptions } from './conv2d.ts';
import { MaxPool2D } from './maxPool2d.ts';
import { AvgPool2D } from './avgPool2d.ts';
import { Dropout } from './dropout.ts';
import { BatchNorm2D } from './batchNorm.ts';
import { Flatten } from './flatten.ts';
import { Dense } from './dense.ts';
import { ReLU, Tanh } from './activations.ts';
import type { Layer } from './layer.ts';
import { Adam } from '../optim/adam.ts';

/** Conv cases: filters, kernel, options, per-sample input shape, batch. */
const CONV_CASES: [number, [number, number], Conv2DOptions, Shape, number][] = [
  [2, [3, 3], {}, [1, 5, 5], 2],
  [3, [3, 2], { stride: 2, padding: 1 }, [2, 7, 5], 2],
  [2, [3, 3], { stride: [2, 2], padding: [1, 1], bias: false }, [3, 6, 6], 1],
  [1, [1, 1], {}, [1, 1, 1], 3],
  [2, [2, 5], { stride: [1, 3], padding: [0, 2] }, [2, 4, 9], 2],
  [4, [3, 3], { padding: 2 }, [1, 3, 4], 1], // windows at the corners hold only one real pixel
];

test('Conv2D passes the gradient check (input, weight, bias): stride 2, padding 1, non-square, 1×1', () => {
  for (const [filters, k, opts, shape, batch] of CONV_CASES) {
    assertGradients(() => new Conv2D(filters, k, opts), `Conv2D(${filters}, ${k}, ${JSON.stringify(opts)})`, [{ inputShape: shape, batch }]);
  }
});

test('Conv2D forward equals the cross-correlation definition; weight is [OC, IC, KH, KW]', () => {
  for (const [filters, k, opts, shape, batch] of CONV_CASES) {
    const layer = buildLayer(new Conv2D(filters, k, opts), shape, 3);
    const [c, h, w] = shape;
    const [kh, kw] = layer.kernelSize;
    const [sh, sw] = layer.stride;
    const [ph, pw] = layer.padding;
    assert.deepEqual(layer.weight.value.shape, [filters, c, kh, kw]);
    if (layer.bias) layer.bias.value.data.set(Array.from({ length: filters }, (_, i) => 0.5 - i));
    const rng = new Rng(4);
    const x = new Tensor([batch, ...shape], Float32Array.from({ length: batch * c * h * w }, () => rng.normal()));
    const y = layer.forward(x, false);
    const [, oh, ow] = layer.outputShape;
    const expected: number[] = [];
    for (let n = 0; n < batch; n++) for (let o = 0; o < filters; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      let s = layer.bias ? layer.bias.value.data[o] : 0;
      for (let ch = 0; ch < c; ch++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
        const r = i * sh - ph + u;
        const q = j * sw - pw + v;
        if (r >= 0 && r < h && q >= 0 && q < w) s += layer.weight.value.get(o, ch, u, v) * x.get(n, ch, r, q);
      }
      expected.push(s);
    }
    assertClose(y.data, expected, { rtol: 1e-5, atol: 1e-5, label: `Conv2D forward ${JSON.stringify(opts)} ${shape}` });
  }
});

test('bad Conv2D models are rejected when built: layer, expected and received shape, and a fix', () => {
  const model = (layers: Layer[], inputShape: Shape) => () => new Sequential(layers, { inputShape });
  // kernel larger than the padded input
  assertNablaError(model([new Conv2D(4, 5), new MaxPool2D(2), new Conv2D(4, 5)], [1, 12, 12]),
    ['layer 2 (Conv2D)', 'at least 5×5', '[N, 4, 4, 4]', '4×4', 'hint: use a kernel of at most 4×4, add padding']);
  // a conv after a Flatten (a rank-1 input)
  assertNablaError(model([new Flatten(), new Conv2D(4, 3)], [1, 28, 28]),
    ['layer 1 (Conv2D)', 'an image input (N, C, H, W)', '[N, 784]', 'cannot follow a Flatten or Dense']);
  assertNablaError(model([new Conv2D(4, 3)], [784]), ['layer 0 (Conv2D)', '[N, 784]', '[1, 28, 28]']);
  // channel-count mismatch between layers
  assertNablaError(model([new Conv2D(8, 3), new ReLU(), new Conv2D(4, 3, { inChannels: 3 })], [1, 10, 10]),
    ['layer 2 (Conv2D)', 'input of 3 channels', '[N, 8, 8, 8] (8 channels)', 'set inChannels to 8']);
  // non-positive stride, no filters
  assertNablaError(() => new Conv2D(4, 3, { stride: 0 }), ['Conv2D', 'stride', '≥ 1', '0', 'must be positive']);
  assertNablaError(() => new Conv2D(0, 3), ['Conv2D', 'filters', '0']);
});

test('a small CNN learns to tell vertical from horizontal bars', () => {
  // 8×8 images, one bar at a random place, label 0 = vertical, 1 = horizontal, plus noise.
  const rng = new Rng(5);
  const count = 200;
  const x = new Float32Array(count * 64);
  const y = new Float32Array(count * 2);
  for (let s = 0; s < count; s++) {
    const horizontal = s % 2;
    const at = 1 + rng.int(6);
    for (let i = 0; i < 64; i++) x[s * 64 + i] = 0.2 * rng.normal();
    for (let t = 0; t < 8; t++) x[s * 64 + (horizontal ? at * 8 + t : t * 8 + at)] += 1;
    y[s * 2 + horizontal] = 1;
  }
  const model = new Sequential([
    new Conv2D(4, 3, { padding: 1 }), new BatchNorm2D(), new ReLU(), new MaxPool2D(2),
    new Conv2D(4, 3, { stride: 2 }), new ReLU(), new Flatten(), new Dropout(0.1), new Dense(2),
  ], { inputShape: [1, 8, 8], seed: 3 });
  const history = model.fit({ x, y, count }, { optimizer: new Adam(model.parameters(), { lr: 0.02 }), loss: 'ce', epochs: 8, batchSize: 20 });
  const last = history.epochs[history.epochs.length - 1];
  assert.ok(last.loss < history.epochs[0].loss, 'loss went down');
  const ev = model.evaluate({ x, y, count }, { loss: 'ce' });
  assert.ok(ev.accuracy > 0.95, `accuracy ${ev.accuracy}`);
});

test('a whole CNN (conv, batch norm, tanh, pools, flatten, dense) passes the gradient check end to end', () => {
  // Tanh instead of ReLU and average pooling before the max: no kinks near the probe points.
  const model = new Sequential([
    new Conv2D(3, [3, 2], { padding: 1, stride: [1, 2] }), new BatchNorm2D(), new Tanh(), new AvgPool2D(2, { stride: 1 }),
    new Conv2D(2, 2, { stride: 2 }), new MaxPool2D([2, 1], { stride: 1 }), new Flatten(), new Dense(3),
  ], { inputShape: [2, 7, 6], seed: 5 });
  const rng = new Rng(9);
  const n = 3;
  const x = new Tensor([n, 2, 7, 6], Float32Array.from({ length: n * 84 }, () => rng.normal()));
  const y = new Tensor([n, 3]);
  for (let r = 0; r < n; r++) y.data[r * 3 + (r % 3)] = 1;
  const loss = lossByName('ce');
  const dy = new Tensor([n, 3]);
  model.zeroGrad();
  loss.compute(model.backend, dy.data, model.forward(x, true).data, y.data, n, 3);
  model.backward(dy);
  const scratch = new Float32Array(n * 3);
  const f = () => loss.compute(model.backend, scratch, model.forward(x, true).data, y.data, n, 3);
  for (const p of model.parameters()) {
    const r = gradCheck(f, p.value.data, p.grad.data.slice(), { h: 1e-2, rtol: 1e-2, atol: 1e-4 });
    assert.ok(r.ok, `${p.name}: ${r.message}`);
  }
});
