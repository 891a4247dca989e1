// Image layers (Conv2D, MaxPool2D, AvgPool2D) and Dropout, BatchNorm1D/2D: gradient checks on
// awkward shapes (stride 2, padding 1, non-square, 1×1), forward against the definition, mode
// behaviour, running statistics, and the shape errors raised when a model is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayerGradients, gradCheck } from '../testing/gradCheck.ts';
import { lossByName } from '../losses/lossByName.ts';
import { assertClose } from '../testing/assertClose.ts';
import { JsBackend } from '../backend/js/jsBackend.ts';
import { Rng } from '../random.ts';
import { Tensor, type Shape } from '../tensor.ts';
import { Sequential } from '../model/sequential.ts';
import { assertNablaError } from '../../test/assertNablaError.ts';
import { Conv2D, type Conv2DOptions } from './conv2d.ts';
import { MaxPool2D } from './maxPool2d.ts';
import { AvgPool2D } from './avgPool2d.ts';
import { Dropout } from './dropout.ts';
import { BatchNorm1D, BatchNorm2D } from './batchNorm.ts';
import { Flatten } from './flatten.ts';
import { Dense } from './dense.ts';
import { ReLU, Tanh } from './activations.ts';
import type { Layer } from './layer.ts';
import { Adam } from '../optim/adam.ts';

function assertGradients(make: () => Layer, where: string, inputShape: Shape, batch: number, extra: { h?: number; training?: boolean } = {}): void {
  for (const seed of [1, 2]) {
    const layer = make();
    const report = checkLayerGradients(layer, { inputShape, batch, seed, ...extra });
    const label = `${where}, input [${inputShape.join(', ')}], batch ${batch}, seed ${seed}`;
    assert.ok(report.ok, `${label}\n${report.message}`);
    assert.equal(report.results.length, 1 + layer.params().length, label);
  }
}

const build = (layer: Layer, inputShape: Shape, seed = 0): Layer => {
  layer.build(inputShape, { backend: new JsBackend(), rng: new Rng(seed), index: 0 });
  return layer;
};

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
    assertGradients(() => new Conv2D(filters, k, opts), `Conv2D(${filters}, ${k}, ${JSON.stringify(opts)})`, shape, batch);
  }
});

test('Conv2D forward equals the cross-correlation definition; weight is [OC, IC, KH, KW]', () => {
  for (const [filters, k, opts, shape, batch] of CONV_CASES) {
    const layer = build(new Conv2D(filters, k, opts), shape, 3) as Conv2D;
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

test('MaxPool2D and AvgPool2D pass the gradient check: overlapping windows, stride 2, padding 1, non-square', () => {
  const cases: [[number, number], { stride?: number | [number, number]; padding?: number | [number, number] }, Shape, number][] = [
    [[2, 2], {}, [2, 4, 6], 2],
    [[3, 3], { stride: 2, padding: 1 }, [1, 7, 5], 2],
    [[3, 2], { stride: [1, 2] }, [2, 5, 4], 1],
    [[2, 2], { stride: 1 }, [1, 3, 3], 3], // overlapping: one pixel can be the max of several windows
    [[1, 1], {}, [1, 1, 1], 2],
  ];
  for (const [pool, opts, shape, batch] of cases) {
    // A max is piecewise linear, so a small step has no truncation error and stays off the ties.
    assertGradients(() => new MaxPool2D(pool, opts), `MaxPool2D(${pool}, ${JSON.stringify(opts)})`, shape, batch, { h: 1e-3 });
    assertGradients(() => new AvgPool2D(pool, opts), `AvgPool2D(${pool}, ${JSON.stringify(opts)})`, shape, batch);
  }
});

test('MaxPool2D / AvgPool2D forward on a hand-made 4×4 image', () => {
  const x = new Tensor([1, 1, 4, 4], Float32Array.from([1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16]));
  assert.deepEqual([...build(new MaxPool2D(2), [1, 4, 4]).forward(x, false).data], [4, 8, 12, 16]);
  assert.deepEqual([...build(new AvgPool2D(2), [1, 4, 4]).forward(x, false).data], [2.5, 6.5, 10.5, 14.5]);
  // Padding 1, stride 2: max treats padding as −∞; avg counts it as 0 in a divisor of 4.
  assert.deepEqual([...build(new MaxPool2D(2, { padding: 1 }), [1, 4, 4]).forward(x, false).data], [1, 5, 6, 9, 13, 14, 11, 15, 16]);
  assert.deepEqual([...build(new AvgPool2D(2, { padding: 1 }), [1, 4, 4]).forward(x, false).data].slice(0, 2), [0.25, 1.75]);
});

/** Dropout whose mask is drawn once and then kept: deterministic, for the gradient check. */
class FrozenDropout extends Dropout {
  private frozen: Float32Array | undefined;
  protected override drawMask(mask: Float32Array): void {
    if (!this.frozen) {
      super.drawMask(mask);
      this.frozen = mask.slice();
    }
    mask.set(this.frozen);
  }
}

test('Dropout: identity in evaluation; inverted scaling, repeatable masks and dy ⊙ mask in training', () => {
  const layer = build(new Dropout(0.25), [1000], 7);
  const x = new Tensor([4, 1000], new Float32Array(4000).fill(2));
  assert.equal(layer.forward(x, false), x, 'evaluation returns its input');
  const y = layer.forward(x, true).data.slice();
  const dropped = y.filter((v) => v === 0).length;
  assert.ok(Math.abs(dropped / 4000 - 0.25) < 0.03, `dropped ${dropped} of 4000 at rate 0.25`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-6), 'kept values scaled by 1/(1 − rate)');
  const dy = new Tensor([4, 1000], new Float32Array(4000).fill(3));
  const dx = layer.backward(dy).data;
  y.forEach((v, i) => assert.equal(dx[i], v === 0 ? 0 : Math.fround(3 / 0.75), `dx[${i}]`));
  // Same seed, same mask; the next batch gets a new one.
  const again = build(new Dropout(0.25), [1000], 7);
  assert.deepEqual(again.forward(x, true).data, y);
  assert.notDeepEqual(again.forward(x, true).data, y);
  assertGradients(() => new FrozenDropout(0.5), 'Dropout(0.5) with a frozen mask', [3, 2], 3);
  assertNablaError(() => new Dropout(1), ['Dropout', 'rate in [0, 1)', '1']);
});

test('BatchNorm1D and BatchNorm2D pass the gradient check in training (batch statistics) and evaluation modes', () => {
  assertGradients(() => new BatchNorm1D(), 'BatchNorm1D', [3], 4);
  assertGradients(() => new BatchNorm1D(), 'BatchNorm1D on (N, C, L)', [2, 5], 2);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D', [3, 2, 5], 2);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D 1×1 images', [2, 1, 1], 3);
  assertGradients(() => new BatchNorm2D(), 'BatchNorm2D (evaluation)', [2, 3, 3], 2, { training: false });
});

test('BatchNorm running statistics follow PyTorch: momentum 0.1, unbiased running_var; evaluation uses them', () => {
  const layer = build(new BatchNorm1D(), [1]) as BatchNorm1D;
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

test('bad image models are rejected when built: layer, expected and received shape, and a fix', () => {
  const model = (layers: Layer[], inputShape: Shape) => () => new Sequential(layers, { inputShape });
  // kernel larger than the padded input
  assertNablaError(model([new Conv2D(4, 5), new MaxPool2D(2), new Conv2D(4, 5)], [1, 12, 12]),
    ['layer 2 (Conv2D)', 'at least 5×5', '[N, 4, 4, 4]', '4×4', 'hint: use a kernel of at most 4×4, add padding']);
  // pooling larger than its input
  assertNablaError(model([new Conv2D(2, 3), new MaxPool2D(4)], [1, 5, 5]), ['layer 1 (MaxPool2D)', 'at least 4×4', '[N, 2, 3, 3]']);
  // a conv after a Flatten (a rank-1 input)
  assertNablaError(model([new Flatten(), new Conv2D(4, 3)], [1, 28, 28]),
    ['layer 1 (Conv2D)', 'an image input (N, C, H, W)', '[N, 784]', 'cannot follow a Flatten or Dense']);
  assertNablaError(model([new Conv2D(4, 3)], [784]), ['layer 0 (Conv2D)', '[N, 784]', '[1, 28, 28]']);
  // channel-count mismatch between layers
  assertNablaError(model([new Conv2D(8, 3), new ReLU(), new Conv2D(4, 3, { inChannels: 3 })], [1, 10, 10]),
    ['layer 2 (Conv2D)', 'input of 3 channels', '[N, 8, 8, 8] (8 channels)', 'set inChannels to 8']);
  assertNablaError(model([new Conv2D(8, 3), new BatchNorm2D({ numFeatures: 6 })], [1, 10, 10]),
    ['layer 1 (BatchNorm2D)', '6 channels', '(8 channels)']);
  assertNablaError(model([new Flatten(), new BatchNorm2D()], [1, 4, 4]), ['layer 1 (BatchNorm2D)', 'image input', 'BatchNorm1D']);
  // non-positive stride, and padding over half a pool window
  assertNablaError(() => new Conv2D(4, 3, { stride: 0 }), ['Conv2D', 'stride', '≥ 1', '0', 'must be positive']);
  assertNablaError(() => new MaxPool2D(2, { stride: [1, -1] }), ['MaxPool2D', 'stride', '[1,-1]']);
  assertNablaError(() => new MaxPool2D(2, { padding: 2 }), ['MaxPool2D', 'padding at most half']);
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
